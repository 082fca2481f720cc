"""A durable group's log is synced after the write lock is given back, and before
anyone is answered; a sync that fails is a failed write for its callers."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tidings.domain.errors import StorageUnavailable
from tidings.storage.sqlite.turns import SUFFIX
from tidings.storage.sqlite.wal_sync import WalSync
from tidings.storage.sqlite.writer import GroupCommitWriter


class WatchedSync(WalSync):
    """The real sync, noting at each call whether the write lock was free and
    whether the group's caller had been answered yet."""

    def __init__(self, database: Path, answered: list[asyncio.Future[str]]) -> None:
        super().__init__(database)
        self._lock_file = Path(f"{database}{SUFFIX}")
        self._answered = answered
        self.seen: list[tuple[bool, bool]] = []

    def sync(self) -> None:
        self.seen.append((self._lock_is_free(), any(f.done() for f in self._answered)))
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


def _write(writer: GroupCommitWriter, text: str, durable: bool) -> object:
    """The outcome of one write: its result, or the exception it failed with."""

    async def scenario() -> object:
        write = writer.run(_insert(text), durable=durable)
        [outcome] = await asyncio.gather(write, return_exceptions=True)
        return outcome

    return asyncio.run(scenario())


def test_the_log_is_synced_outside_the_lock_before_the_answer(database: Path) -> None:
    writer = GroupCommitWriter(database)
    answered: list[asyncio.Future[str]] = []
    watched = WatchedSync(database, answered)
    writer._wal = watched  # the real sync, watched
    writer.start()
    try:

        async def scenario() -> str:
            future = asyncio.ensure_future(writer.run(_insert("kept")))
            answered.append(future)
            return await asyncio.wait_for(future, 10)

        assert asyncio.run(scenario()) == "kept"
    finally:
        writer.stop()
    assert watched.seen == [(True, False)]  # lock free, caller not yet answered
    assert _rows(database) == ["kept"]


def test_bookkeeping_that_may_be_lost_is_answered_without_a_sync(database: Path) -> None:
    writer = GroupCommitWriter(database)
    watched = WatchedSync(database, [])
    writer._wal = watched
    writer.start()
    try:
        assert _write(writer, "lease", durable=False) == "lease"
    finally:
        writer.stop()
    assert watched.seen == []
    assert _rows(database) == ["lease"]


def test_a_failed_sync_fails_the_callers_and_the_writer_goes_on(database: Path) -> None:
    writer = GroupCommitWriter(database)
    writer._wal = BrokenDisk(database)
    writer.start()
    try:
        outcome = _write(writer, "unsure", durable=True)
        assert isinstance(outcome, StorageUnavailable)
        assert "could not sync the database" in str(outcome)
        writer._wal = WalSync(database)  # the disk is back
        assert _write(writer, "after", durable=True) == "after"
    finally:
        writer.stop()
    # The first write was committed, only not known to be on disk: it stands, and
    # its caller, told it failed, sends it again (an id settles the repeat).
    assert _rows(database) == ["unsure", "after"]


def test_a_replaced_log_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "replaced.db"
    first = sqlite3.connect(path, isolation_level=None)
    first.execute("PRAGMA journal_mode=WAL")
    first.execute("CREATE TABLE note (text TEXT)")
    sync = WalSync(path)
    sync.sync()
    first.close()  # the last connection: SQLite checkpoints and deletes the log
    assert not Path(f"{path}-wal").exists()
    second = sqlite3.connect(path, isolation_level=None)
    second.execute("INSERT INTO note VALUES ('new log')")
    try:
        sync.sync()  # the new file's inode, not the deleted one's
        assert sync._inode == os.stat(f"{path}-wal").st_ino
    finally:
        sync.close()
        second.close()


def test_an_in_memory_database_has_no_log_to_sync() -> None:
    WalSync(Path(":memory:")).sync()
