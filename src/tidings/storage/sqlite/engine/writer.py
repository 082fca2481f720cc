"""Group commit: one writer thread runs every write, many per transaction.

Requests that arrive while a commit is in progress queue up; the next
transaction runs all of them, each inside its own savepoint, and commits once.
One fsync is shared by the whole group, and each caller is answered only after
that commit and that fsync, so full durability costs one fsync per group rather
than one per request. The fsync comes after the write lock is given back, so
other processes' groups need not wait for it (wal_sync.py).

A savepoint costs about as much as a small insert, so an operation that writes
nothing before it may raise can do without one (`savepoint=False`): its domain
errors and integrity errors (a failed statement is undone by SQLite itself) fail
it alone; anything else it raises may follow a partial write, so the whole group
is rolled back and every caller in it told so.

Work that comes many times per group, such as receiving webhooks, can be sent
as a `Batch`: the group's items of one kind are written together, in a few
multi-row statements.

Before each transaction the writer waits for its turn at the write lock, as long
as another process holds it (turns.py); a watchdog bounds that wait for the
callers (watchdog.py).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from tidings.domain.errors import StorageUnavailable, TidingsError
from tidings.storage.sqlite.connection import BUSY_TIMEOUT_MS, connect
from tidings.storage.sqlite.engine.checkpoint import Checkpointer
from tidings.storage.sqlite.engine.turns import WriteTurns
from tidings.storage.sqlite.engine.wal_sync import WalSync
from tidings.storage.sqlite.engine.watchdog import Watchdog

T = TypeVar("T")
Item = TypeVar("Item")
Operation = Callable[[sqlite3.Connection], Any]
# (operation, caller's future, caller's loop, whether it must survive power loss,
#  whether it runs in its own savepoint)
_Job = tuple[Operation, asyncio.Future[Any], asyncio.AbstractEventLoop, bool, bool]

log = logging.getLogger(__name__)

# Bounds the time one transaction holds the write lock.
MAX_GROUP = 512
# A group of batches writing at most this much keeps its savepoint journal in memory.
JOURNAL_IN_MEMORY_BYTES = 8 * 1024 * 1024
_STOP = object()


class GroupCommitWriter:
    def __init__(self, path: Path, patience: float = BUSY_TIMEOUT_MS / 1000) -> None:
        self._path = path
        self._patience = patience
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, name="tidings-sqlite-writer", daemon=True
        )
        self._conn: sqlite3.Connection | None = None
        self._wal: WalSync | None = None
        self._journal_in_memory = False
        # Set once a sync of the log fails: every later write is refused (wal_sync.py).
        self._sync_failed: StorageUnavailable | None = None
        self._checkpointer = Checkpointer(path)
        self._turns = WriteTurns(path)
        self._watchdog: Watchdog[_Job] = Watchdog(patience, self._drain, _fail)

    def start(self) -> None:
        self._turns.open()
        self._conn = connect(self._path)
        # Commits never checkpoint: the checkpointer's thread does (checkpoint.py).
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        # Durable groups sync the log after the write lock is given back (wal_sync.py).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._wal = WalSync(self._conn)
        self._thread.start()
        self._checkpointer.start()
        self._watchdog.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            # Queued writes finish first, however many; only a turn at the write
            # lock that does not come within the patience ends the wait, and what
            # is still queued then fails.
            while self._thread.is_alive() and not self._watchdog.stuck():
                self._thread.join(Watchdog.interval(self._patience))
            if self._thread.is_alive():
                self._watchdog.expire(StorageUnavailable("the writer stopped"))
        self._watchdog.stop()
        self._checkpointer.stop()
        if self._thread.is_alive():
            log.error("SQLite writer stopped while waiting for the write lock")
            return  # its connection and lock file stay open until the process exits
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._wal is not None:
            self._wal.close()
        self._turns.close()

    def check(self) -> None:
        """Raise StorageUnavailable if this writer refuses writes (a sync failed)."""
        if self._sync_failed is not None:
            raise self._sync_failed

    async def run(
        self,
        operation: Callable[[sqlite3.Connection], T],
        durable: bool = True,
        savepoint: bool = True,
    ) -> T:
        """Run `operation` in the next group; return once its group has committed.

        A durable group's log is synced before anyone is answered (wal_sync.py).
        Bookkeeping a crash can safely forget (claims, leases) may pass
        `durable=False`: a group of only such jobs is answered without a sync,
        which in WAL mode still survives a crash of the process, though not of the
        machine.
        `savepoint=False` is for operations that write nothing before they may
        raise a `TidingsError` (see the module's docstring).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((operation, future, loop, durable, savepoint))
        return await future

    async def run_batched(self, batch: Batch[Item, T], durable: bool = True) -> T:
        """Run `batch` in the next group, together with the group's other batches
        of the same key (see `Batch`); return its own outcome once committed."""
        return await self.run(batch, durable, savepoint=False)  # type: ignore[arg-type]

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
        if self._sync_failed is not None:
            _fail(group, self._sync_failed)
            return
        if not self._take_turn(group):
            return
        running: list[int] = []  # the jobs of the operation being run
        committed = False
        try:
            self._keep_journal_in_memory(_small_batches(group))
            conn.execute("BEGIN IMMEDIATE")
            outcomes = _run_all(conn, group, running)
            conn.execute("COMMIT")
            committed = True
        except _Abandoned as abandoned:
            outcomes = self._roll_back(group, abandoned.error)
            for index in running:
                outcomes[index] = (False, abandoned.error)
        except (sqlite3.Error, OSError) as exc:
            outcomes = self._roll_back(group, exc)
        except Exception as exc:  # a bug: still answer everyone, and leave no transaction open
            log.exception("SQLite group commit failed unexpectedly")
            outcomes = self._roll_back(group, exc)
        finally:
            self._turns.give_back()
        if committed and any(job[3] for job in group):
            outcomes = self._sync(group, outcomes)
        _answer(group, outcomes)

    def _keep_journal_in_memory(self, small: bool) -> None:
        """A batch runs in a savepoint, so SQLite keeps the original of every page it
        changes in a statement journal, which goes to a temporary file past 64 KiB:
        a group of inbound events (some 30 pages) created, wrote and deleted one
        about every other commit. A group of batches whose items declare at most
        JOURNAL_IN_MEMORY_BYTES in all keeps its journal in memory; any other group
        keeps the default, as one job may delete an application with all its
        messages and journal gigabytes. Switching drops the temporary database,
        which Tidings never uses for tables."""
        if small != self._journal_in_memory:
            assert self._conn is not None
            self._conn.execute(f"PRAGMA temp_store={'MEMORY' if small else 'DEFAULT'}")
            self._journal_in_memory = small

    def _sync(self, group: list[_Job], outcomes: list[tuple[bool, Any]]) -> list[tuple[bool, Any]]:
        """`outcomes`, once the log is on disk. If it could not be synced, the durable
        jobs that succeeded fail instead (their writes stand, and are visible, but
        nobody may be told they are safe), and so does every later write: a sync
        that failed once cannot be trusted to have written anything (wal_sync.py)."""
        assert self._wal is not None
        try:
            self._wal.sync()
        except OSError as exc:
            log.critical("SQLite log sync failed; refusing writes until a restart: %s", exc)
            self._sync_failed = StorageUnavailable(
                f"could not sync the database ({exc}); the process must be restarted"
            )
            return [
                (False, self._sync_failed) if job[3] and ok else (ok, value)
                for job, (ok, value) in zip(group, outcomes, strict=True)
            ]
        return outcomes

    def _take_turn(self, group: list[_Job]) -> bool:
        """Wait for the write lock; False if the group is not to run (the watchdog
        failed it meanwhile, or the lock could not be waited for)."""
        self._watchdog.waiting(group)
        try:
            self._turns.wait_for_turn()
        except OSError as exc:
            if self._watchdog.turn_came():
                error = StorageUnavailable(f"could not wait for the write lock: {exc}")
                _answer(group, [(False, error)] * len(group))
            return False
        if self._watchdog.turn_came():
            return True
        self._turns.give_back()  # its callers were already told it failed
        return False

    def _drain(self) -> list[_Job]:
        """Everything queued, for the watchdog to fail; a stop stays queued."""
        taken: list[_Job] = []
        stop = False
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                stop = True
            else:
                taken.append(job)  # type: ignore[arg-type]
        if stop:
            self._jobs.put(_STOP)  # the writer still stops once its turn comes
        return taken

    def _roll_back(self, group: list[_Job], cause: BaseException) -> list[tuple[bool, Any]]:
        assert self._conn is not None
        log.error("SQLite group commit failed: %s", cause)
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        failure = StorageUnavailable(f"database write failed: {cause}")
        return [(False, failure)] * len(group)


class _Abandoned(Exception):
    """An operation without a savepoint failed in a way that may follow a write."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Batch(Generic[Item, T]):
    """One item of work done together with every item of the same `key` in its
    group, by one call of `run_all(conn, items)`: many rows in a few statements
    rather than a few statements per row, which costs a fraction of the CPU and of
    the GIL hand-overs. `run_all` returns one outcome per item (its result, or
    the exception that item fails with, having written nothing for it); a
    domain or integrity error it raises undoes the whole batch (a savepoint) and
    fails every item, and anything else rolls back the whole group.
    The batch runs where the first of its items stands in the group, so an item
    queued after another job of the group is written before that job (both were
    in flight together: either order is one they could have had)."""

    key: Hashable
    item: Item
    run_all: Callable[[sqlite3.Connection, list[Item]], list[T | Exception]]
    # About how many bytes the item writes (a received body and its headers); a
    # batch that does not say is never taken for small (`_small_batches`).
    size: int | None = None


def _run_all(
    conn: sqlite3.Connection, group: list[_Job], running: list[int]
) -> list[tuple[bool, Any]]:
    """Every job's outcome, in order; `running` holds the indexes being run."""
    outcomes: list[tuple[bool, Any] | None] = [None] * len(group)
    batches: dict[Hashable, list[int]] = {}
    for index, (operation, *_) in enumerate(group):
        if isinstance(operation, Batch):
            batches.setdefault(operation.key, []).append(index)
    for index, (operation, _, _, _, savepoint) in enumerate(group):
        if outcomes[index] is not None:
            continue
        if isinstance(operation, Batch):
            running[:] = batches[operation.key]
            items = [group[member][0].item for member in running]
            for member, outcome in zip(running, _run_batch(conn, operation, items), strict=True):
                outcomes[member] = outcome
        else:
            running[:] = [index]
            outcomes[index] = _run_one(conn, operation, savepoint)
    running.clear()
    return outcomes  # type: ignore[return-value]


def _run_batch(
    conn: sqlite3.Connection, batch: Batch[Any, Any], items: list[Any]
) -> list[tuple[bool, Any]]:
    # One savepoint for the whole batch: its statements are many, so a failure
    # part-way must undo the ones before it (the group's other jobs stand).
    conn.execute("SAVEPOINT batch")
    try:
        results = batch.run_all(conn, items)
        if len(results) != len(items):
            raise RuntimeError(f"a batch of {len(items)} returned {len(results)} outcomes")
    except (TidingsError, sqlite3.IntegrityError) as exc:
        conn.execute("ROLLBACK TO batch")
        conn.execute("RELEASE batch")
        return [(False, exc)] * len(items)
    except Exception as exc:
        raise _Abandoned(exc) from exc
    conn.execute("RELEASE batch")
    return [
        (False, result) if isinstance(result, Exception) else (True, result) for result in results
    ]


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


def _small_batches(group: list[_Job]) -> bool:
    """Whether the group is batches only, declaring JOURNAL_IN_MEMORY_BYTES in all."""
    size = 0
    for operation, *_ in group:
        if not isinstance(operation, Batch) or operation.size is None:
            return False
        size += operation.size
    return size <= JOURNAL_IN_MEMORY_BYTES


def _fail(jobs: list[_Job], error: Exception) -> None:
    _answer(jobs, [(False, error)] * len(jobs))


def _answer(group: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
    """Settle each caller's future on its loop: one wake-up per loop, not per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for (_, future, loop, _, _), outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, outcome))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, settled)
        except RuntimeError:  # that caller's event loop has closed: nobody is waiting
            log.debug("a writer's caller left with its event loop")


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
