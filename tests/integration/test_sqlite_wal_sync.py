"""A durable group's log is synced after the write lock is given back, and before
anyone is answered; a sync that fails fails its writes and every later one."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tidings.api import tokens
from tidings.domain.access import TokenKind
from tidings.domain.errors import StorageUnavailable
from tidings.storage.sqlite.engine import writer as writer_module
from tidings.storage.sqlite.engine.turns import SUFFIX
from tidings.storage.sqlite.engine.wal_sync import WalSync
from tidings.storage.sqlite.engine.writer import GroupCommitWriter
from tidings.storage.sqlite.store import SqliteStore


class WatchedSync(WalSync):
    """The real sync, noting in `events` each call and whether the write lock was
    free at the time."""

    def __init__(self, conn: sqlite3.Connection, lock_file: Path, events: list[str]) -> None:
        super().__init__(conn)
        self._lock_file = lock_file
        self._events = events

    def sync(self) -> None:
        self._events.append("sync, lock free" if self._lock_is_free() else "sync, lock held")
        super().sync()

    def _lock_is_free(self) -> bool:
        fd = os.open(self._lock_file, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # closing the file gives back a lock taken through it
        return True


class BrokenDisk(WalSync):
    def sync(self) -> None:
        raise OSError(5, "Input/output error")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sync.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE note (text TEXT)")
    yield path


def _insert(text: str) -> Callable[[sqlite3.Connection], str]:
    def insert(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO note VALUES (?)", (text,))
        return text

    return insert


def _rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as check:
        return [row[0] for row in check.execute("SELECT text FROM note ORDER BY rowid")]


def _outcomes(writer: GroupCommitWriter, *writes: tuple[str, bool]) -> list[Any]:
    """The outcomes of writes (text, durable) sent together: results or exceptions."""

    async def scenario() -> list[Any]:
        runs = [writer.run(_insert(text), durable=durable) for text, durable in writes]
        return list(await asyncio.gather(*runs, return_exceptions=True))

    return asyncio.run(scenario())


def _started(database: Path, sync: Callable[[sqlite3.Connection], WalSync]) -> GroupCommitWriter:
    """A started writer whose log sync is `sync(its connection)`."""
    writer = GroupCommitWriter(database)
    writer.start()
    assert writer._conn is not None
    writer._wal = sync(writer._conn)  # before any write: the thread reads it per group
    return writer


def _watched_write(database: Path, durable: bool, events: list[str]) -> list[Any]:
    """One write through a writer whose syncs are noted in `events`; its outcomes."""
    lock_file = Path(f"{database}{SUFFIX}")
    writer = _started(database, lambda conn: WatchedSync(conn, lock_file, events))
    try:
        return _outcomes(writer, ("kept", durable))
    finally:
        writer.stop()


def test_the_log_is_synced_outside_the_lock_before_the_answer(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    answer = writer_module._answer

    def noted(group: list[Any], outcomes: list[tuple[bool, Any]]) -> None:
        events.append("answer")
        answer(group, outcomes)

    monkeypatch.setattr(writer_module, "_answer", noted)
    assert _watched_write(database, True, events) == ["kept"]
    assert events == ["sync, lock free", "answer"]
    assert _rows(database) == ["kept"]


def test_bookkeeping_that_may_be_lost_is_answered_without_a_sync(database: Path) -> None:
    events: list[str] = []
    assert _watched_write(database, False, events) == ["kept"]
    assert events == []
    assert _rows(database) == ["kept"]


def test_a_failed_sync_fails_its_writes_and_every_later_one(database: Path) -> None:
    writer = _started(database, BrokenDisk)
    try:
        durable, bookkeeping = _outcomes(writer, ("unsure", True), ("lease", False))
        later = _outcomes(writer, ("after", True), ("later lease", False))
    finally:
        writer.stop()
    assert isinstance(durable, StorageUnavailable)
    assert "could not sync the database" in str(durable)
    assert "must be restarted" in str(durable)
    assert bookkeeping == "lease"  # not durable: its answer stands
    # Linux reports a failed write-back once: a later sync could succeed without
    # having written the failed pages, so nothing more is accepted.
    assert all(isinstance(outcome, StorageUnavailable) for outcome in later)
    # The first group was committed, only not known to be on disk: its rows stand,
    # and a sender told it failed sends it again.
    assert _rows(database) == ["unsure", "lease"]


def test_a_symlinked_database_syncs_the_log_beside_the_real_file(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    with sqlite3.connect(real / "tidings.db") as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE note (text TEXT)")
    link = tmp_path / "link.db"
    link.symlink_to(real / "tidings.db")
    writer = GroupCommitWriter(link)
    writer.start()
    try:
        assert _outcomes(writer, ("through the link", True)) == ["through the link"]
        assert Path(f"{real / 'tidings.db'}-wal").exists()
    finally:
        writer.stop()
    assert _rows(real / "tidings.db") == ["through the link"]


def test_a_replaced_log_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "replaced.db"
    first = sqlite3.connect(path, isolation_level=None)
    first.execute("PRAGMA journal_mode=WAL")
    first.execute("CREATE TABLE note (text TEXT)")
    second = sqlite3.connect(path, isolation_level=None)
    sync = WalSync(second)
    sync.sync()
    old = os.stat(f"{path}-wal").st_ino
    first.close()
    second.close()  # the last connection: SQLite checkpoints and deletes the log
    assert not Path(f"{path}-wal").exists()
    third = sqlite3.connect(path, isolation_level=None)
    third.execute("INSERT INTO note VALUES ('new log')")
    try:
        sync.sync()  # the new file, not the deleted one (still open, so its inode
        # number cannot have been given to the new file)
        assert sync._inode == os.stat(f"{path}-wal").st_ino != old
    finally:
        sync.close()
        third.close()


def test_an_in_memory_database_has_no_log_to_sync() -> None:
    with sqlite3.connect(":memory:") as conn:
        WalSync(conn).sync()


def test_a_store_whose_sync_failed_reports_unhealthy(tmp_path: Path) -> None:
    """The health check (`Store.ping`) fails once the writer refuses writes, so a
    load balancer or supervisor sees the process must be restarted."""
    store = SqliteStore(f"sqlite:///{tmp_path / 'health.db'}")

    async def scenario() -> tuple[Exception | None, Exception | None]:
        await store.open()
        try:
            await store.ping()  # healthy
            store._writer._wal = BrokenDisk(store._writer._conn)  # type: ignore[arg-type]
            failed = await _caught(tokens.issue(store, TokenKind.ADMIN, "first"))
            return failed, await _caught(store.ping())
        finally:
            await store.close()

    failed, health = asyncio.run(scenario())
    assert isinstance(failed, StorageUnavailable)
    assert isinstance(health, StorageUnavailable) and "restarted" in str(health)


async def _caught(work: Awaitable[Any]) -> Exception | None:
    try:
        await work
    except Exception as exc:
        return exc
    return None
