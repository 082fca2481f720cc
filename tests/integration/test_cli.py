"""The `tidings` command: migrations, tokens, the generated admin token, flags and env."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.harness import ServerProcess, clean_environment, tidings, tidings_run
from tests.waiting import eventually
from tidings.storage.sqlite.migrate import available

TOKEN = re.compile(r"^\s+(tid_\S+)$", re.MULTILINE)


def test_migrate_creates_the_schema_and_is_repeatable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    names = [name.removesuffix(".sql") for _, name, _ in available()]
    first = tidings("migrate", "--database-url", url)
    assert first.splitlines() == [
        *(f"applied {name}" for name in names),
        f"database is up to date ({len(names)} migrations applied)",
    ]
    again = tidings("migrate", "--database-url", url)
    assert again == f"nothing to apply: database is up to date ({len(names)} migrations applied)\n"
    with sqlite3.connect(tmp_path / "m.db") as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migration")]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert versions == [number for number, _, _ in available()]
    assert mode == "wal"


def test_migrate_status_shows_applied_and_pending_and_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "data" / "s.db"
    env = {"TIDINGS_DATABASE_URL": f"sqlite:///{path}"}
    names = [name.removesuffix(".sql") for _, name, _ in available()]
    before = tidings("migrate", "--status", env=env).splitlines()
    assert before == [
        *(f"pending  {name}" for name in names),
        f"{len(names)} pending: `tidings migrate` (or any start) applies them",
    ]
    assert not path.parent.exists()  # reading made nothing
    tidings("migrate", env=env)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM schema_migration WHERE version = ?", (available()[-1][0],))
    partly = tidings("migrate", "--status", env=env).splitlines()
    assert partly == [
        *(f"applied  {name}" for name in names[:-1]),
        f"pending  {names[-1]}",
        "1 pending: `tidings migrate` (or any start) applies it",
    ]


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


def test_a_bad_flag_is_named_as_typed(tmp_path: Path) -> None:
    done = tidings_run("serve", "--port", "eighty", cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr == "tidings: --port 'eighty': expected a whole number\n"


@pytest.mark.parametrize(
    ("command", "given_as"),
    [
        (["serve"], "flag"),
        (["serve"], "variable"),
        (["worker"], "variable"),
        (["migrate", "--status"], "flag"),
        (["token", "list"], "variable"),
    ],
)
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "mysql://root:pw@db/app",
            "unsupported scheme 'mysql'; use sqlite:///path or postgresql://...",
        ),
        ("postgresql://db:five/app", "malformed PostgreSQL URL"),
    ],
)
def test_an_unusable_database_url_is_refused_in_one_line(
    tmp_path: Path, command: list[str], given_as: str, url: str, reason: str
) -> None:
    if given_as == "flag":
        done = tidings_run(*command, "--database-url", url, cwd=tmp_path)
        named = "--database-url '"
    else:
        done = tidings_run(*command, env={"TIDINGS_DATABASE_URL": url}, cwd=tmp_path)
        named = "TIDINGS_DATABASE_URL='"
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"tidings: {named}")
    assert reason in done.stderr and "pw" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing made on the way


def test_the_completion_command_prints_a_script_bash_loads(tmp_path: Path) -> None:
    script = tidings("completion", "bash", env={"TIDINGS_PORT": "not read"})
    program = (
        'eval "$(cat)"; COMP_WORDS=(tidings migrate --s); COMP_CWORD=2; _tidings; '
        'echo "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program], input=script, capture_output=True, text=True, timeout=30
    )
    assert (done.stdout, done.stderr) == ("--status --secret-key\n", "")
