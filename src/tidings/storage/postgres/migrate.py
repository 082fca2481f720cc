"""Numbered schema migrations: reading which are applied, and applying the rest,
each in its own transaction under an advisory lock, so any number of processes may
start (and migrate) at once."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from tidings.domain.clock import now_ms
from tidings.storage.ports import MigrationStatus

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
_IS_APPLIED = "SELECT 1 FROM schema_migration WHERE version = $1"
_RECORDED = "SELECT version, name FROM schema_migration"
_RECORD = "INSERT INTO schema_migration (version, name, applied_at) VALUES ($1, $2, $3)"


@functools.cache  # read from the package once: a readiness probe asks often
def available() -> tuple[tuple[int, str, str], ...]:
    """`(number, name, sql)` for every file in migrations/, in order."""
    folder = resources.files("tidings.storage.postgres") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text()))
    return tuple(sorted(found))


async def status(conn: Any) -> MigrationStatus:
    """What is applied and what is pending, in one query on `conn` (an asyncpg
    connection or pool); writes nothing."""
    known = ((number, name) for number, name, _ in available())
    return MigrationStatus.of(await _recorded(conn), known)


async def _recorded(conn: Any) -> dict[int, str]:
    try:
        return {row["version"]: row["name"] for row in await conn.fetch(_RECORDED)}
    except asyncpg.UndefinedTableError:  # a database never migrated
        return {}


async def migrate(conn: Any) -> list[str]:
    """Apply what is missing on `conn` (an asyncpg connection); return the names applied.

    A database already current costs one read. Otherwise each migration re-checks
    what is applied after taking the lock, so a process that waited for another
    one's migration skips it. Versions this code does not know (applied by a newer
    release) are left alone.
    """
    recorded = await _recorded(conn)
    done: list[str] = []
    for number, name, sql in available():
        if number not in recorded and await _apply(conn, number, name, sql):
            done.append(name)
    return done


async def _apply(conn: Any, number: int, name: str, sql: str) -> bool:
    """Apply one migration unless another process has meanwhile; whether this did."""
    async with conn.transaction():
        await conn.execute(_LOCK, LOCK_KEY)
        # Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide.
        await conn.execute(_CREATE_TABLE)
        if await conn.fetchval(_IS_APPLIED, number) is not None:
            return False
        # No arguments: the simple protocol runs a file of several statements.
        await conn.execute(sql)
        await conn.execute(_RECORD, number, name, now_ms())
    return True
