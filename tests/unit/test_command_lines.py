"""The command lines a supervising `tidings` process gives its children."""

from __future__ import annotations

from tidings.cli.main import build_parser, command_argv


def test_each_child_gets_the_flags_its_command_accepts() -> None:
    argv = ["serve", "--port", "9100", "--retry-schedule", "1,2", "--api-processes", "2",
            "--dev", "--config", "hooks.toml", "--database-url", "sqlite:///x.db"]  # fmt: skip
    args = build_parser().parse_args(argv)
    api = command_argv("api", args)
    worker = command_argv("worker", args)
    assert api[0] == "api" and worker[0] == "worker"
    assert dict(zip(api[1::2], api[2::2], strict=False)).get("--port") == "9100"
    for child in (api, worker):
        assert "--api-processes" not in child  # a child is one process
        assert "--dev" in child
        assert child[child.index("--config") + 1] == "hooks.toml"
        assert child[child.index("--database-url") + 1] == "sqlite:///x.db"
    assert "--retry-schedule" not in api and "--port" not in worker
    assert worker[worker.index("--retry-schedule") + 1] == "1,2"
    # Each parses as its own command.
    assert build_parser().parse_args(api).command == "api"
    assert build_parser().parse_args(worker).command == "worker"
