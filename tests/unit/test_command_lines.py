"""The command lines a supervising `tidings` process gives its children."""

from __future__ import annotations

from tidings.cli.arguments import build_parser, command_argv


def test_each_child_gets_the_flags_its_command_accepts() -> None:
    argv = [
        "serve",
        "--port",
        "9100",
        "--retry-schedule",
        "1,2",
        "--api-processes",
        "2",
        "--dev",
        "--config",
        "hooks.toml",
        "--admin-token=-starts-with-a-dash",
    ]
    args = build_parser().parse_args(argv)
    api = build_parser().parse_args(command_argv("api", args))
    worker = build_parser().parse_args(command_argv("worker", args))
    assert (api.command, worker.command) == ("api", "worker")
    assert api.port == "9100" and not hasattr(worker, "port")
    assert worker.retry_schedule == "1,2" and not hasattr(api, "retry_schedule")
    for child in (api, worker):
        assert child.dev == "true" and child.config == "hooks.toml"
        # A value that looks like a flag stays a value.
        assert child.admin_token == "-starts-with-a-dash"
    assert api.api_processes is None  # a child is one process
