"""Time as integer milliseconds since the epoch, the unit every table stores."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_datetime(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def from_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)
