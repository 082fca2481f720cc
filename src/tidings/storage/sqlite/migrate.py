"""Numbered schema migrations, applied in order, each in its own transaction."""

from __future__ import annotations

import sqlite3
from importlib import resources

from tidings.domain.clock import now_ms


def available() -> list[tuple[int, str, str]]:
    """`(number, name, sql)` for every file in migrations/, in order."""
    folder = resources.files("tidings.storage.sqlite") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text()))
    return sorted(found)


def applied(conn: sqlite3.Connection) -> set[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migration "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    return {row[0] for row in conn.execute("SELECT version FROM schema_migration")}


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply what is missing; return the names applied. Safe to run concurrently:
    BEGIN IMMEDIATE serialises processes, and each re-checks what is applied."""
    done: list[str] = []
    for number, name, sql in available():
        conn.execute("BEGIN IMMEDIATE")
        try:
            if number in applied(conn):
                conn.execute("COMMIT")
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, now_ms()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(name)
    return done


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (our migrations hold no literal semicolons)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
