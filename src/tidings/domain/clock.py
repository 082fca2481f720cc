"""Time as integer milliseconds since the epoch, the unit every table stores."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RisingClock:
    """Stamps from `now_ms()` that never repeat or go back within one process, for
    orders that must not tie: which lane a claim served last, when many claims fall
    in one millisecond. It runs ahead of the clock only while more than one stamp a
    millisecond is asked for, and meets it again once they slow down."""

    def __init__(self) -> None:
        self._last = 0
        # Stores in one process (each with its own SQLite writer thread) share one.
        self._lock = threading.Lock()

    def stamp(self, now: int) -> int:
        with self._lock:
            self._last = max(now, self._last + 1)
            return self._last


def to_datetime(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def from_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)
