"""Per-endpoint lanes: the order in which claims visit endpoints.

A lane's `next_check` is a lower bound on when its endpoint next has a delivery
due. Anything that makes a delivery due sooner lowers it (`wake`); a claim that
visits a lane raises it back to the truth (`settle`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable

from tidings.domain.clock import RisingClock

# How many endpoints one claim visits at most.
LANES_PER_CLAIM = 64
NEVER = 1 << 62
# When each lane was served, by this process's claims.
_SERVED = RisingClock()

_WAKE = """
INSERT INTO lane (endpoint_key, next_check) VALUES (?, ?)
ON CONFLICT (endpoint_key) DO UPDATE SET next_check = min(next_check, excluded.next_check)
"""


def wake(conn: sqlite3.Connection, due: Iterable[tuple[int, int]]) -> None:
    """Record that each `(endpoint_key, due_at)` has a delivery due at that time."""
    earliest: dict[int, int] = {}
    for endpoint_key, due_at in due:
        earliest[endpoint_key] = min(due_at, earliest.get(endpoint_key, due_at))
    conn.executemany(_WAKE, earliest.items())


_PICK = """
SELECT key FROM delivery WHERE endpoint_key = ? AND status IN (1, 3) AND due_at <= ?
ORDER BY due_at LIMIT ?
"""
_EARLIEST = "SELECT min(due_at) FROM delivery WHERE endpoint_key = ? AND status IN (1, 3)"
_DROP = "DELETE FROM lane WHERE endpoint_key = ?"
_SETTLE = "UPDATE lane SET next_check = ?, served_at = ? WHERE endpoint_key = ?"


def _due(skipped: int) -> str:
    skipping = f"AND endpoint_key NOT IN ({','.join('?' * skipped)})" if skipped else ""
    return (
        f"SELECT endpoint_key FROM lane WHERE next_check <= ? {skipping} ORDER BY served_at LIMIT ?"
    )


def earliest_check(skipped: int) -> str:
    """The earliest time a lane needs looking at, leaving `skipped` endpoints out."""
    return f"SELECT min(next_check) FROM lane WHERE endpoint_key NOT IN ({','.join('?' * skipped)})"


def due(conn: sqlite3.Connection, now: int, skip: Collection[int]) -> list[int]:
    """Endpoints that may have deliveries due, least recently served first, leaving
    out `skip` (endpoints the claiming worker cannot send more to now)."""
    found = conn.execute(_due(len(skip)), (now, *skip, LANES_PER_CLAIM))
    return [row[0] for row in found]


def pick(conn: sqlite3.Connection, endpoint_key: int, now: int, limit: int) -> list[int]:
    """Keys of up to `limit` due deliveries to one endpoint, oldest first."""
    return [row[0] for row in conn.execute(_PICK, (endpoint_key, now, limit))]


def settle(conn: sqlite3.Connection, endpoint_keys: Collection[int], now: int) -> None:
    """After a claim: each visited lane waits for its earliest queued delivery, and
    goes behind the lanes served before it."""
    if not endpoint_keys:
        return
    served = _SERVED.stamp(now)
    for endpoint_key in endpoint_keys:
        earliest = conn.execute(_EARLIEST, (endpoint_key,)).fetchone()[0]
        if earliest is None:
            conn.execute(_DROP, (endpoint_key,))
        else:
            conn.execute(_SETTLE, (earliest, served, endpoint_key))
