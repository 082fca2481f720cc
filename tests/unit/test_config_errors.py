"""A setting's error names what the user typed (the flag, or the variable), shows
the value without secrets or passwords, and a database URL Tidings cannot use is
refused as the setting is read."""

from __future__ import annotations

import pytest

from tidings.cli.arguments import build_parser, load_settings
from tidings.config import load, parse_value


def error(flags: dict[str, str], environ: dict[str, str]) -> str:
    with pytest.raises(ValueError) as raised:
        load(flags, environ)
    return str(raised.value)


def test_a_bad_flag_is_named_as_typed() -> None:
    assert error({"port": "eighty"}, {}) == "--port 'eighty': expected a whole number"


def test_a_bad_variable_is_named_as_set() -> None:
    message = error({}, {"TIDINGS_PORT": "eighty"})
    assert message == "TIDINGS_PORT='eighty': expected a whole number"


def test_a_flag_overrides_its_variable_without_reading_it() -> None:
    assert load({"port": "9000"}, {"TIDINGS_PORT": "eighty"}).port == 9000
    assert load({}, {"TIDINGS_PORT": ""}).port == 8040  # empty: unset


def test_the_command_line_names_the_flag() -> None:
    args = build_parser().parse_args(["worker", "--worker-nice", "25"])
    with pytest.raises(ValueError, match=r"^--worker-nice '25': expected a nice value"):
        load_settings(args)


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("request_timeout", "-1", "expected a positive number"),
        ("request_timeout", "soon", "expected a number"),
        ("database_pool_size", "0", "expected 1 to 1000 connections"),
        ("api_processes", "65", "expected 1 to 64 processes"),
        ("metrics_port", "70000", "expected a port from 1 to 65535, or 0 for none"),
        ("dev", "maybe", "expected a boolean (true or false)"),
        ("log_format", "xml", "expected one of auto, json, console"),
        ("ca_file", "/nowhere.pem", "no such file"),
        ("proxy_url", "socks5://proxy", "expected http://[user:password@]host:port"),
    ],
)
def test_each_kind_of_value_says_what_it_expected(name: str, raw: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_value(name, raw)
    assert str(raised.value).startswith(f"TIDINGS_{name.upper()}={raw!r}: {message}")


def test_a_secret_is_never_shown() -> None:
    message = error({"secret_key": "not*base64"}, {})
    assert message.startswith("--secret-key: a secret key is not base64")
    assert "not*base64" not in message
    assert "not*base64" not in error({}, {"TIDINGS_SECRET_KEY": "not*base64"})


def test_a_password_in_a_url_is_never_shown() -> None:
    message = error({"database_url": "mysql://root:hunter2@db/app"}, {})
    assert "hunter2" not in message and "root:***@db" in message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "mysql://root@db/app",
            "unsupported scheme 'mysql'; use sqlite:///path or postgresql://...",
        ),
        ("redis://cache", "unsupported scheme 'redis'"),
        ("tidings.db", "not a database URL; use sqlite:///path or postgresql://..."),
        ("sqlite://tidings.db", "expected sqlite:///relative/path.db"),
        ("sqlite:///", "expected sqlite:///relative/path.db"),
        ("postgresql://db:five/app", "malformed PostgreSQL URL: Port could not be cast"),
        ("postgresql://[::1/app", "malformed PostgreSQL URL: Invalid IPv6 URL"),
        ("postgresql://db:0/app", "malformed PostgreSQL URL: port 0"),
    ],
)
def test_a_database_url_tidings_cannot_use_is_refused_when_read(url: str, reason: str) -> None:
    assert error({"database_url": url}, {}).startswith(f"--database-url {url!r}: {reason}")
    assert error({}, {"TIDINGS_DATABASE_URL": url}).startswith(f"TIDINGS_DATABASE_URL={url!r}")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///tidings.db",
        "sqlite:////var/lib/tidings/tidings.db",
        "sqlite:///:memory:",
        "postgresql://tidings:secret@db.internal:5432/tidings",
        "postgres://db/tidings",
        "postgresql:///tidings",
        "postgresql://[::1]:5432/tidings",
    ],
)
def test_database_urls_tidings_can_use_are_kept_as_given(url: str) -> None:
    assert load({"database_url": url}, {}).database_url == url
