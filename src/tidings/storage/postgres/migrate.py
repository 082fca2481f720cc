"""Numbered schema migrations, each applied in its own transaction under an
advisory lock, so any number of processes may start (and migrate) at once."""

from __future__ import annotations

from importlib import resources
from typing import Any

from tidings.domain.clock import now_ms

# The transaction-level advisory lock every migrating process takes: "tidings" in ASCII.
LOCK_KEY = 0x74_69_64_69_6E_67_73

_LOCK = "SELECT pg_advisory_xact_lock($1)"
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migration (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at bigint NOT NULL
)
"""
_APPLIED = "SELECT version FROM schema_migration"
_RECORD = "INSERT INTO schema_migration (version, name, applied_at) VALUES ($1, $2, $3)"


def available() -> list[tuple[int, str, str]]:
    """`(number, name, sql)` for every file in migrations/, in order."""
    folder = resources.files("tidings.storage.postgres") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text()))
    return sorted(found)


async def migrate(conn: Any) -> list[str]:
    """Apply what is missing on `conn` (an asyncpg connection); return the names applied.

    Each migration re-checks what is applied after taking the lock, so a process
    that waited for another one's migration skips it. Versions this code does not
    know (applied by a newer release) are left alone.
    """
    done: list[str] = []
    for number, name, sql in available():
        async with conn.transaction():
            await conn.execute(_LOCK, LOCK_KEY)
            # Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide.
            await conn.execute(_CREATE_TABLE)
            if number in {row["version"] for row in await conn.fetch(_APPLIED)}:
                continue
            # No arguments: the simple protocol runs a file of several statements.
            await conn.execute(sql)
            await conn.execute(_RECORD, number, name, now_ms())
        done.append(name)
    return done
