"""Cross-process wake-ups: NOTIFY when deliveries are queued, LISTEN in workers.

A wake-up is only a hint. Workers poll regardless (at least every
IDLE_POLL_SECONDS), so a lost or skipped notification costs latency, never work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tidings.storage.postgres.connection import is_connection_failure

log = logging.getLogger(__name__)

CHANNEL = "tidings_work"
# A NOTIFY takes a cluster-wide lock at its transaction's commit, so one process has
# at most one NOTIFY in flight, and starts the next no sooner than this after the
# last one started: at once when it has been quiet that long, else one for every
# commit in between. A commit wakes the workers within an interval plus a round trip.
ANNOUNCE_INTERVAL_SECONDS = 0.001
CLOSE_TIMEOUT_SECONDS = 5.0

# Sent as one simple query, i.e. one implicit transaction of its own. A NOTIFY is a
# hint (workers poll anyway), so its commit need not wait for the WAL flush, which
# would also hold the cluster-wide notify lock meanwhile.
_NOTIFY = f"SET LOCAL synchronous_commit TO off; NOTIFY {CHANNEL}"


class Announcer:
    """Wakes the workers after transactions that queued deliveries have committed.

    A transaction that queues work says so (`owe(conn)`); when it commits, the store
    calls `committed(conn)`, which sends NOTIFY on a connection of its own, outside
    any data transaction: no request waits for it, and a NOTIFY can never reach a
    worker before the rows it announces are visible. A message created in one
    statement carries the NOTIFY in that statement when it is this process's turn
    (`take_turn`), which costs no round trip at all.
    """

    def __init__(
        self,
        send: Callable[[], Awaitable[object]],
        interval: float = ANNOUNCE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._interval = interval
        self._clock = clock
        self._last = -math.inf
        self._owed: set[int] = set()  # connections whose open transaction queued work
        self._wanted = False  # a commit not yet covered by a NOTIFY sent after it
        self._due: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None
        self._closed = False

    def owe(self, conn: Any) -> None:
        """The transaction open on `conn` queued deliveries."""
        self._owed.add(id(conn))

    def forget(self, conn: Any) -> None:
        """The transaction on `conn` rolled back: it queued nothing after all."""
        self._owed.discard(id(conn))

    def committed(self, conn: Any) -> None:
        """The transaction on `conn` committed: announce it, now or at the interval's end."""
        if id(conn) in self._owed:
            self._owed.discard(id(conn))
            self.queued()

    def take_turn(self) -> bool:
        """Whether a statement about to commit may carry the NOTIFY itself (counted as
        sent): only when none is pending or in flight and the interval has passed. A
        statement that then commits nothing to announce costs nothing; one that falls
        back to a transaction is announced by `committed` as usual."""
        if self._closed or self._due is not None or self._sending is not None:
            return False
        now = self._clock()
        if now - self._last < self._interval:
            return False
        self._last = now
        return True

    def queued(self) -> None:
        """Deliveries were committed (by a statement that commits by itself)."""
        if self._closed:
            return
        self._wanted = True
        self._schedule()

    async def close(self) -> None:
        """Send what is pending now, and wait (boundedly) for it."""
        self._closed = True
        if self._due is not None:
            self._due.cancel()
            self._due = None
            if self._sending is None:
                self._announce()
        if self._sending is not None:
            await asyncio.wait([self._sending], timeout=CLOSE_TIMEOUT_SECONDS)

    def _schedule(self) -> None:
        if not self._wanted or self._due is not None or self._sending is not None:
            return  # nothing to say, or the pending or running send will see to it
        delay = max(self._last + self._interval - self._clock(), 0.0)
        self._due = asyncio.get_running_loop().call_later(delay, self._announce)

    def _announce(self) -> None:
        # Cleared before sending: a commit from here on needs an announcement of its own.
        self._due, self._wanted, self._last = None, False, self._clock()
        self._sending = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        try:
            await self._send()
        except Exception as exc:
            # A wake-up is a hint (workers poll anyway), so a failure costs latency only.
            level = logging.DEBUG if is_connection_failure(exc) else logging.WARNING
            log.log(level, "could not NOTIFY the workers: %r", exc)
        finally:
            self._sending = None
            if not self._closed:
                self._schedule()  # commits made while this one was in flight


async def notify(conn: Any) -> None:
    """What `Announcer` sends, on a connection outside any transaction."""
    await conn.execute(_NOTIFY)


class WorkListener:
    """A dedicated connection that LISTENs on CHANNEL, opened on first use.

    API-only processes never wait for work, so they never open it. When the
    connection is lost it is reopened by the next wait; until then waits fall
    back to sleeping, which is plain polling.
    """

    def __init__(self, connect: Callable[[], Awaitable[Any]]) -> None:
        self._connect = connect
        self._conn: Any = None
        self._connecting: asyncio.Task[None] | None = None
        self._signal = asyncio.Event()
        self._has_listened = False

    async def wait(self, seconds: float) -> None:
        """Until a notification arrives or `seconds` pass (a timeout, not an error)."""
        deadline = asyncio.get_running_loop().time() + seconds
        if not await self._listening(seconds):
            await asyncio.sleep(max(deadline - asyncio.get_running_loop().time(), 0))
            return
        remaining = max(deadline - asyncio.get_running_loop().time(), 0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._signal.wait(), remaining)
            # Cleared only once seen: a notification that arrives between two
            # waits still ends the next one at once.
            self._signal.clear()

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        conn.remove_termination_listener(self._lost)  # closing on purpose is no loss
        try:
            await asyncio.wait_for(conn.close(), CLOSE_TIMEOUT_SECONDS)
        except Exception:
            conn.terminate()

    async def _listening(self, seconds: float) -> bool:
        if self._conn is not None and not self._conn.is_closed():
            return True
        # The connect runs as its own task: the worker cancels a wait as soon as
        # another wake-up comes first, and that must not abort a connect halfway.
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.create_task(self._listen(), name="tidings-listen")
        await asyncio.wait([self._connecting], timeout=seconds)
        return self._conn is not None

    async def _listen(self) -> None:
        conn = None
        try:
            conn = await self._connect()
            await conn.add_listener(CHANNEL, self._notified)
        except Exception as exc:
            # Runs as a task nobody awaits for its result: nothing may escape.
            level = logging.DEBUG if is_connection_failure(exc) else logging.WARNING
            log.log(level, "cannot LISTEN for work; polling instead: %r", exc)
            if conn is not None:
                conn.terminate()
            return
        conn.add_termination_listener(self._lost)
        if self._has_listened:
            # Notifications sent while we were away are gone: look for work once.
            self._signal.set()
        self._conn, self._has_listened = conn, True

    def _notified(self, *_: object) -> None:
        self._signal.set()

    def _lost(self, *_: object) -> None:
        log.info("lost the LISTEN connection; polling until it is back")
        self._conn = None
        self._signal.set()
