"""A bound on the group-commit writer's wait for its turn at the write lock.

The writer waits for the lock in a blocking `flock`, which takes no deadline
(turns.py). While it waits, this thread looks a few times per patience: once the
wait has lasted longer than the patience (another process stopped while holding
the lock, or its disk hangs), the waiting group and everything queued behind it
fail with StorageUnavailable, and so does whatever queues while the wait goes on.
The writer runs a group only if the watchdog has not failed it meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from tidings.domain.errors import StorageUnavailable
from tidings.storage.sqlite.engine.background import BackgroundThread

Job = TypeVar("Job")

log = logging.getLogger(__name__)


class Watchdog(BackgroundThread, Generic[Job]):
    def __init__(
        self,
        patience: float,
        drain: Callable[[], list[Job]],
        fail: Callable[[list[Job], Exception], None],
    ) -> None:
        """`drain` takes every queued job; `fail` answers jobs with an error."""
        super().__init__("tidings-sqlite-watchdog")
        self._patience = patience
        self._drain = drain
        self._fail = fail
        self._lock = threading.Lock()
        self._group: list[Job] | None = None  # the group waiting for the turn
        self._since: float | None = None  # when the writer began waiting

    @staticmethod
    def interval(patience: float) -> float:
        return min(max(patience / 4, 0.01), 1.0)

    def waiting(self, group: list[Job]) -> None:
        """The writer begins to wait for its turn with `group`."""
        with self._lock:
            self._group, self._since = group, time.monotonic()

    def stuck(self) -> bool:
        """Whether the writer has waited for its turn longer than the patience."""
        with self._lock:
            since = self._since
        return since is not None and time.monotonic() - since >= self._patience

    def expire(self, error: Exception) -> None:
        """Fail the waiting group, if any, and everything queued: the writer stops
        without waiting any longer for its turn."""
        with self._lock:
            overdue, self._group = self._group or [], None
            overdue += self._drain()
        if overdue:
            self._fail(overdue, error)

    def turn_came(self) -> bool:
        """The wait is over: whether the group is still the writer's to run."""
        with self._lock:
            mine = self._group is not None
            self._group, self._since = None, None
        return mine

    def _serve(self) -> None:
        while not self._stop.wait(self.interval(self._patience)):
            with self._lock:
                if self._since is None or time.monotonic() - self._since < self._patience:
                    continue
                overdue, self._group = self._group or [], None
                overdue += self._drain()
            if overdue:
                error = StorageUnavailable(
                    f"another process held the write lock for over {self._patience:g}s"
                )
                log.error("SQLite write lock: %s", error)
                try:
                    self._fail(overdue, error)
                except Exception:  # keep bounding later waits whatever happened here
                    log.exception("could not answer the writes that waited too long")
