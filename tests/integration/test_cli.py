"""The `tidings` command: migrations, tokens, the generated admin token, flags and env."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.harness import ServerProcess, clean_environment, tidings
from tests.waiting import eventually
from tidings.storage.sqlite.migrate import available

TOKEN = re.compile(r"^\s+(tid_\S+)$", re.MULTILINE)


def test_migrate_creates_the_schema_and_is_repeatable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    tidings("migrate", "--database-url", url)
    tidings("migrate", "--database-url", url)
    with sqlite3.connect(tmp_path / "m.db") as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migration")]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert versions == [number for number, _, _ in available()]
    assert mode == "wal"


def test_created_token_authenticates(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        token = tidings(
            "token", "create", "--name", "ci", env={"TIDINGS_DATABASE_URL": server.database_url}
        ).strip()
        assert token.startswith("tid_")
        with httpx.Client(base_url=server.url, timeout=10) as http:
            good = http.get("/api/v1/app", headers={"Authorization": f"Bearer {token}"})
            bad = http.get("/api/v1/app", headers={"Authorization": f"Bearer {token}x"})
        assert (good.status_code, bad.status_code) == (200, 401)
    finally:
        server.stop()


def test_first_start_without_admin_token_prints_one_once(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path)
    del first.settings["TIDINGS_ADMIN_TOKEN"]
    first.start()
    printed = eventually(lambda: TOKEN.findall(first.output()), bool)
    assert len(printed) == 1
    with httpx.Client(base_url=first.url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {printed[0]}"}
        assert http.get("/api/v1/app", headers=auth).status_code == 200
    assert first.stop() == 0
    with sqlite3.connect(tmp_path / "tidings.db") as conn:
        stored = [row[0] for row in conn.execute("SELECT hash FROM token")]
    assert len(stored) == 1 and printed[0] not in stored[0]

    second = first.successor().start()
    assert second.stop() == 0
    assert TOKEN.findall(second.output()) == []  # a token exists, so none is generated


def test_weak_admin_token_is_fatal_outside_dev_mode(tmp_path: Path) -> None:
    env = {"TIDINGS_ADMIN_TOKEN": "changeme", "TIDINGS_DATABASE_URL": f"sqlite:///{tmp_path}/w.db"}
    done = subprocess.run(
        [sys.executable, "-m", "tidings", "serve"],
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "TIDINGS_ADMIN_TOKEN" in done.stderr


def test_bad_setting_names_the_variable(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tidings", "serve"],
        env=clean_environment({"TIDINGS_RETRY_SCHEDULE": "1,x"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "TIDINGS_RETRY_SCHEDULE" in done.stderr


def test_every_flag_shows_its_environment_variable() -> None:
    help_text = tidings("serve", "--help")
    for name in (
        "HOST",
        "PORT",
        "DATABASE_URL",
        "ADMIN_TOKEN",
        "RETRY_SCHEDULE",
        "REQUEST_TIMEOUT",
    ):
        assert f"TIDINGS_{name}" in help_text
