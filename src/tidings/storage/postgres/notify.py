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
# A transaction that has sent NOTIFY takes a cluster-wide lock at commit, so
# under load one process announces at most once per interval; deliveries
# committed in between are found by the workers' busy claiming or next poll.
ANNOUNCE_INTERVAL_SECONDS = 0.05
CLOSE_TIMEOUT_SECONDS = 5.0

_NOTIFY = "SELECT pg_notify($1, '')"


class Announcer:
    """Sends NOTIFY inside the caller's transaction, unless this process just did."""

    def __init__(
        self,
        interval: float = ANNOUNCE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._last = -math.inf

    def allowed_now(self) -> bool:
        """Whether to announce now; counts the announcement when it says yes."""
        now = self._clock()
        if now - self._last < self._interval:
            return False
        self._last = now
        return True

    async def __call__(self, conn: Any) -> None:
        if self.allowed_now():
            await conn.execute(_NOTIFY, CHANNEL)


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
