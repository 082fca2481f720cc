"""Seeding a pending backlog straight into a Tidings database, SQLite or PostgreSQL.

Ingesting a million messages through HTTP would take minutes before the
measurement even starts, so the backlog scenario writes the rows the API would
have written (read from each backend's `migrations/`): one `message` row
holding the payload and one `delivery` row (status 1 = pending, due now) per
message, and, where the schema has lanes (0003), each endpoint's lane marked due.
Applications and endpoints are created through the API first, so they are
exactly what Tidings itself stores.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from benchmarks import payloads
from tidings.domain import ids
from tidings.storage.sqlite.connection import path_from_url

CHUNK = 20_000
PENDING = 1


def endpoint_rows(conn: sqlite3.Connection) -> dict[int, tuple[int, int]]:
    """Endpoint index (from its URL path) -> (app_key, endpoint_key)."""
    found = {}
    for key, app_key, url in conn.execute("SELECT key, app_key, url FROM endpoint"):
        found[int(url.rsplit("/", 1)[1])] = (app_key, key)
    return found


def _chunks(total: int) -> Iterator[range]:
    for start in range(0, total, CHUNK):
        yield range(start, min(start + CHUNK, total))


def seed_backlog(database_url: str, count: int) -> float:
    """Queue `count` pending fan-out-1 deliveries; return the seconds it took."""
    if database_url.startswith("sqlite:"):
        return _seed_sqlite(path_from_url(database_url), count)
    return asyncio.run(_seed_postgres(database_url, count))


def _seed_sqlite(database: Path, count: int) -> float:
    started = time.monotonic()
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        endpoints = endpoint_rows(conn)
        first_key = conn.execute("SELECT coalesce(max(key), 0) + 1 FROM message").fetchone()[0]
        now = int(time.time() * 1000)
        for seqs in _chunks(count):
            _insert_chunk(conn, seqs, first_key, endpoints, now)
        _wake_lanes(conn, [key for _, key in endpoints.values()], now)
    finally:
        conn.close()
    return time.monotonic() - started


def _wake_lanes(conn: sqlite3.Connection, endpoint_keys: list[int], due_at: int) -> None:
    """Schemas with per-endpoint lanes (migration 0003) only claim from lanes whose
    `next_check` is due: mark each seeded endpoint's lane, as `lanes.wake` does."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'lane'").fetchone():
        return
    conn.executemany(
        "INSERT INTO lane (endpoint_key, next_check) VALUES (?, ?) ON CONFLICT (endpoint_key) "
        "DO UPDATE SET next_check = min(next_check, excluded.next_check)",
        [(key, due_at) for key in endpoint_keys],
    )


def _insert_chunk(
    conn: sqlite3.Connection,
    seqs: range,
    first_key: int,
    endpoints: dict[int, tuple[int, int]],
    now: int,
) -> None:
    stamp = time.time()
    messages, deliveries = [], []
    for seq in seqs:
        app_key, endpoint_key = endpoints[seq % payloads.ENDPOINTS]
        key = first_key + seq
        messages.append(
            (
                key,
                ids.new_id(ids.MESSAGE),
                app_key,
                payloads.EVENT_TYPE,
                payloads.payload(seq, stamp),
                now,
            )
        )
        deliveries.append((app_key, key, endpoint_key, PENDING, now, now))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO message (key, id, app_key, event_type, payload, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        messages,
    )
    conn.executemany(
        "INSERT INTO delivery (app_key, msg_key, endpoint_key, status, due_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        deliveries,
    )
    conn.execute("COMMIT")


# After the messages are copied in: one pending delivery each, to the one endpoint of
# its application (fan-out 1), and every endpoint's lane due.
_PG_DELIVERIES = """
INSERT INTO delivery (app_key, msg_key, endpoint_key, status, due_at, updated_at)
SELECT message.app_key, message.key, endpoint.key, 1, $2, $2
FROM message JOIN endpoint ON endpoint.app_key = message.app_key
WHERE message.key > $1
"""
_PG_LANES = """
INSERT INTO lane (endpoint_key, next_check) SELECT key, $1 FROM endpoint
ON CONFLICT (endpoint_key) DO UPDATE SET next_check = least(lane.next_check, $1)
"""


async def _seed_postgres(url: str, count: int) -> float:
    started = time.monotonic()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        endpoints = {
            int(row["url"].rsplit("/", 1)[1]): row["app_key"]
            for row in await conn.fetch("SELECT app_key, url FROM endpoint")
        }
        before = await conn.fetchval("SELECT coalesce(max(key), 0) FROM message")
        now = int(time.time() * 1000)
        for seqs in _chunks(count):
            stamp = time.time()
            records = [
                (
                    ids.new_id(ids.MESSAGE),
                    endpoints[seq % payloads.ENDPOINTS],
                    payloads.EVENT_TYPE,
                    payloads.payload(seq, stamp),
                    now,
                )
                for seq in seqs
            ]
            columns = ["id", "app_key", "event_type", "payload", "created_at"]
            await conn.copy_records_to_table("message", records=records, columns=columns)
        await conn.execute(_PG_DELIVERIES, before, now)
        await conn.execute(_PG_LANES, now)
        await conn.execute("ANALYZE")  # as autovacuum would, soon after such a load
    finally:
        await conn.close()
    return time.monotonic() - started
