"""Every setting is a flag of each command it applies to, and a supervised child's
command line carries on each flag its command accepts."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from tidings.cli import command_tree
from tidings.cli.arguments import build_parser, command_argv, load_settings
from tidings.config import SETTINGS, Setting, Settings, parse_value, settings_for

# A valid value of each setting other than its default (switches take none).
SAMPLES = {
    "host": "0.0.0.0",
    "port": "9100",
    "api_processes": "3",
    "worker_nice": "5",
    "database_url": "sqlite:///elsewhere.db",
    "database_pool_size": "25",
    "admin_token": "-starts-with-a-dash",  # still a value, not a flag
    "secret_key": "dGlkaW5ncy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDA=",
    "retry_schedule": "1,2.5",
    "request_timeout": "3",
    "allowed_subnets": "10.0.0.0/8",
    "ca_file": "{file}",
    "proxy_url": "http://proxy:3128",
    "client_cert_file": "{file}",
    "client_key_file": "{file}",
    "worker_concurrency": "64",
    "endpoint_concurrency": "4",
    "max_payload_bytes": "2048",
    "shutdown_grace": "2",
    "lease_seconds": "12",
    "disable_after": "60",
    "public_url": "https://hooks.example.com",
    "config": "hooks.toml",
    "header_timeout": "4",
    "body_timeout": "6",
    "max_connections": "100",
    "log_format": "json",
    "log_level": "debug",
    "log_attempts": "failures",
    "metrics_port": "9200",
}
# What else a command needs to parse.
REQUIRED = {
    "token revoke": ["tok_x"],
    "completion": ["bash"],
    "listen": ["--forward-to", "http://127.0.0.1:3000"],
}


@pytest.fixture
def pem(tmp_path: Path) -> str:
    path = tmp_path / "bundle.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def flag_words(setting: Setting, file: str) -> list[str]:
    if setting.is_switch:
        return [setting.flag]
    return [f"{setting.flag}={SAMPLES[setting.name].format(file=file)}"]


def expected(setting: Setting, file: str) -> object:
    return (
        True
        if setting.is_switch
        else parse_value(setting.name, SAMPLES[setting.name].format(file=file))
    )


def command_words(leaves_only: bool = False) -> set[str]:
    """Every command below `tidings` ("serve", "token create"); only those that run
    something, not those that group others (`token`), if `leaves_only`."""
    return {
        " ".join(words)
        for words, parser in command_tree.walk(build_parser())
        if words and not (leaves_only and command_tree.sub_commands(parser))
    }


def test_every_field_is_a_setting_of_some_command_that_exists() -> None:
    assert {f.name for f in fields(Settings)} == {s.name for s in SETTINGS}
    commands = command_words(leaves_only=True)
    for setting in SETTINGS:
        assert setting.commands, setting.name
        assert set(setting.commands) <= commands, setting.name
        assert setting.is_switch or setting.name in SAMPLES, f"add a sample of {setting.name}"


def test_the_issues_settings_have_their_flags() -> None:
    assert {"serve", "api"} == {c for c in ("serve", "api", "worker") if _takes(c, "public_url")}
    assert {"serve", "worker"} == {
        c for c in ("serve", "api", "worker") if _takes(c, "worker_nice")
    }
    assert _takes("worker", "host") and _takes("worker", "metrics_port")


def _takes(command: str, name: str) -> bool:
    return any(setting.name == name for setting in settings_for(command))


@pytest.mark.parametrize("command", sorted(command_words(leaves_only=True)))
def test_each_command_accepts_every_setting_that_applies_to_it(command: str, pem: str) -> None:
    accepted = settings_for(command)
    argv = [*command.split(), *REQUIRED.get(command, [])]
    for setting in accepted:
        argv += flag_words(setting, pem)
    settings = load_settings(build_parser().parse_args(argv))
    for setting in accepted:
        assert getattr(settings, setting.name) == expected(setting, pem), setting.flag
    # And no other setting's flag.
    others = [s for s in SETTINGS if s not in accepted]
    for setting in others:
        with pytest.raises(SystemExit):
            build_parser().parse_args([*argv, *flag_words(setting, pem)])


@pytest.mark.parametrize("child", ["api", "worker"])
def test_a_supervised_child_gets_every_flag_its_command_accepts(child: str, pem: str) -> None:
    argv = ["serve"]
    for setting in settings_for("serve"):
        argv += flag_words(setting, pem)
    parent_args = build_parser().parse_args(argv)
    parent = load_settings(parent_args)
    child_argv = command_argv(child, parent_args)
    assert child_argv[0] == child
    settings = load_settings(build_parser().parse_args(child_argv))
    carried = {s.name for s in settings_for(child)} & {s.name for s in settings_for("serve")}
    carried.discard("api_processes")  # a child is one process
    for name in carried:
        assert getattr(settings, name) == getattr(parent, name), name
    assert settings.api_processes == 1
    assert "--api-processes" not in " ".join(child_argv)


def test_a_childs_flags_are_one_word_each() -> None:
    args = build_parser().parse_args(["serve", "--admin-token", "-x y", "--dev"])
    assert command_argv("api", args) == ["api", "--admin-token=-x y", "--dev"]


def test_flags_show_their_variable_and_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["worker", "--help"])
    help_text = capsys.readouterr().out
    assert "TIDINGS_WORKER_NICE" in help_text and "default 10" in help_text
    assert "--metrics-port" in help_text and "--public-url" not in help_text
