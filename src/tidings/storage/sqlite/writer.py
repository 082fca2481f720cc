"""Group commit: one writer thread runs every write, many per transaction.

Requests that arrive while a commit is in progress queue up; the next
transaction runs all of them, each inside its own savepoint, and commits once.
One fsync is shared by the whole group, and each caller is answered only after
that commit, so `synchronous=FULL` durability costs one fsync per group rather
than one per request.

A savepoint costs about as much as a small insert, so an operation that writes
nothing before it may raise can do without one (`savepoint=False`): its domain
errors and integrity errors (a failed statement is undone by SQLite itself) fail
it alone; anything else it raises may follow a partial write, so the whole group
is rolled back and every caller in it told so.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tidings.domain.errors import StorageUnavailable, TidingsError
from tidings.storage.sqlite.checkpoint import Checkpointer
from tidings.storage.sqlite.connection import connect
from tidings.storage.sqlite.turns import WriteTurns

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]
# (operation, caller's future, caller's loop, whether it must survive power loss,
#  whether it runs in its own savepoint)
_Job = tuple[Operation, asyncio.Future[Any], asyncio.AbstractEventLoop, bool, bool]

log = logging.getLogger(__name__)

# Bounds the time one transaction holds the write lock.
MAX_GROUP = 512
_STOP = object()


class GroupCommitWriter:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, name="tidings-sqlite-writer", daemon=True
        )
        self._conn: sqlite3.Connection | None = None
        self._durable = True  # connect() sets synchronous=FULL
        self._checkpointer = Checkpointer(path)
        self._turns = WriteTurns(path)

    def start(self) -> None:
        self._turns.open()
        self._conn = connect(self._path)
        # Commits never checkpoint: the checkpointer's thread does (checkpoint.py).
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._thread.start()
        self._checkpointer.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join()
        self._checkpointer.stop()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._turns.close()

    async def run(
        self,
        operation: Callable[[sqlite3.Connection], T],
        durable: bool = True,
        savepoint: bool = True,
    ) -> T:
        """Run `operation` in the next group; return once its group has committed.

        A durable group is fsynced before anyone is answered (synchronous=FULL).
        Bookkeeping a crash can safely forget (claims, leases) may pass
        `durable=False`: a group of only such jobs commits without an fsync, which
        in WAL mode still survives a crash of the process, though not of the machine.
        `savepoint=False` is for operations that write nothing before they may
        raise a `TidingsError` (see the module's docstring).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((operation, future, loop, durable, savepoint))
        return await future

    def _serve(self) -> None:
        while True:
            first = self._jobs.get()
            if first is _STOP:
                return
            group: list[_Job] = [first]  # type: ignore[list-item]
            stop_after = self._gather(group)
            self._commit_group(group)
            if stop_after:
                return

    def _gather(self, group: list[_Job]) -> bool:
        while len(group) < MAX_GROUP:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return False
            if job is _STOP:
                return True
            group.append(job)  # type: ignore[arg-type]
        return False

    def _commit_group(self, group: list[_Job]) -> None:
        assert self._conn is not None
        conn = self._conn
        outcomes: list[tuple[bool, Any]] = []
        try:
            self._set_durability(any(job[3] for job in group))
            self._turns.take()
            conn.execute("BEGIN IMMEDIATE")
            for operation, _, _, _, savepoint in group:
                outcomes.append(_run_one(conn, operation, savepoint))
            conn.execute("COMMIT")
        except _Abandoned as abandoned:
            failed_at = len(outcomes)  # the job that raised it
            outcomes = self._roll_back(group, abandoned.error)
            outcomes[failed_at] = (False, abandoned.error)
        except (sqlite3.Error, OSError, StorageUnavailable) as exc:
            outcomes = self._roll_back(group, exc)
        finally:
            self._turns.give_back()
        _answer(group, outcomes)

    def _roll_back(self, group: list[_Job], cause: BaseException) -> list[tuple[bool, Any]]:
        assert self._conn is not None
        log.error("SQLite group commit failed: %s", cause)
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        failure = StorageUnavailable(f"database write failed: {cause}")
        return [(False, failure)] * len(group)

    def _set_durability(self, durable: bool) -> None:
        if durable != self._durable:
            assert self._conn is not None
            self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._durable = durable


class _Abandoned(Exception):
    """An operation without a savepoint failed in a way that may follow a write."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _run_one(conn: sqlite3.Connection, operation: Operation, savepoint: bool) -> tuple[bool, Any]:
    if not savepoint:
        return _run_bare(conn, operation)
    conn.execute("SAVEPOINT job")
    try:
        result = operation(conn)
    except Exception as exc:
        # One request's failure must not undo the others in its group.
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return False, exc
    conn.execute("RELEASE job")
    return True, result


def _run_bare(conn: sqlite3.Connection, operation: Operation) -> tuple[bool, Any]:
    try:
        return True, operation(conn)
    except (TidingsError, sqlite3.IntegrityError) as exc:
        return False, exc  # raised before any write, or undone with its statement
    except Exception as exc:
        raise _Abandoned(exc) from exc


def _answer(group: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
    """Settle each caller's future on its loop: one wake-up per loop, not per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for (_, future, loop, _, _), outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, outcome))
    for loop, settled in by_loop.items():
        loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[tuple[asyncio.Future[Any], tuple[bool, Any]]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():  # the caller was cancelled; the write stands regardless
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
