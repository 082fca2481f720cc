"""The start-up line's view of the settings: every one, secrets masked."""

from __future__ import annotations

from tidings.config import SETTINGS, Settings, shown


def test_every_setting_is_shown_and_secrets_only_say_whether_set() -> None:
    settings = Settings(
        admin_token="a-very-secret-admin-token",
        secret_key="",
        database_url="postgresql://tidings:hunter2@db.internal:5432/hooks?sslmode=require",
        proxy_url="http://user:pa55@proxy:3128",
        retry_schedule=(0.0, 5.0, 300.0),
    )
    values = shown(settings)
    assert set(values) == {setting.name for setting in SETTINGS}
    assert values["admin_token"] == "(set)"
    assert values["secret_key"] == "(unset)"
    assert values["database_url"] == (
        "postgresql://tidings:***@db.internal:5432/hooks?sslmode=require"
    )
    assert values["proxy_url"] == "http://user:***@proxy:3128"
    assert values["retry_schedule"] == "0,5,300"
    assert values["port"] == 8040
    text = repr(values)
    for never in ("a-very-secret-admin-token", "hunter2", "pa55"):
        assert never not in text


def test_urls_without_a_password_are_left_alone() -> None:
    values = shown(Settings(database_url="postgresql://postgres@127.0.0.1/tidings"))
    assert values["database_url"] == "postgresql://postgres@127.0.0.1/tidings"
