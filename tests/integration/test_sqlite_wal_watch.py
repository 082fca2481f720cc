"""An idle worker's wait on SQLite ends when another process commits to the file."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tidings.storage.sqlite.engine import wal_watch
from tidings.storage.sqlite.store import SqliteStore

# Far longer than any wake-up takes: a wait that lasts this long was not woken.
LONG_WAIT = 60.0

COMMIT_LATER = textwrap.dedent("""
    import sqlite3, sys, time
    time.sleep(float(sys.argv[2]))
    with sqlite3.connect(sys.argv[1]) as conn:
        conn.execute("INSERT INTO token (hash, name, created_at) VALUES ('h', 'other', 0)")
""")


def _open(tmp_path: Path) -> SqliteStore:
    return SqliteStore(f"sqlite:///{tmp_path / 'watched.db'}")


def test_another_process_commit_ends_the_wait(tmp_path: Path) -> None:
    store = _open(tmp_path)

    async def scenario() -> float:
        await store.open()
        try:
            await store.wait_for_work(0.2)  # settles what opening wrote
            other = subprocess.Popen(  # noqa: ASYNC220 - started, then left to run
                [sys.executable, "-c", COMMIT_LATER, str(tmp_path / "watched.db"), "0.5"]
            )
            started = time.monotonic()
            await store.wait_for_work(LONG_WAIT)
            waited = time.monotonic() - started
            assert other.wait(timeout=30) == 0
            return waited
        finally:
            await store.close()

    waited = asyncio.run(scenario())
    assert waited < LONG_WAIT / 2, waited  # woken by the commit, not by the timeout


def test_without_writes_the_wait_lasts_its_timeout(tmp_path: Path) -> None:
    store = _open(tmp_path)

    async def scenario() -> float:
        await store.open()
        try:
            await store.wait_for_work(0.2)
            started = time.monotonic()
            await store.wait_for_work(0.5)
            return time.monotonic() - started
        finally:
            await store.close()

    assert asyncio.run(scenario()) >= 0.45  # nothing was written: no early return


def test_without_inotify_the_worker_polls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wal_watch, "_libc", lambda: None)
    store = _open(tmp_path)

    async def scenario() -> float:
        await store.open()
        try:
            started = time.monotonic()
            await store.wait_for_work(0.3)
            return time.monotonic() - started
        finally:
            await store.close()

    assert asyncio.run(scenario()) >= 0.25
    assert store._watch is None and store._watch_failed
