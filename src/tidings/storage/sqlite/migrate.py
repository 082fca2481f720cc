"""Numbered schema migrations: reading which are applied, and applying the rest in
order, each in its own transaction."""

from __future__ import annotations

import functools
import sqlite3
from importlib import resources
from pathlib import Path

from tidings.domain.clock import now_ms
from tidings.storage.ports import MigrationStatus

_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migration "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
)
_RECORDED = "SELECT version, name FROM schema_migration"
_HAS_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migration'"
_IS_APPLIED = "SELECT 1 FROM schema_migration WHERE version = ?"
_RECORD = "INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)"


@functools.cache  # read from the package once: a readiness probe asks often
def available() -> tuple[tuple[int, str, str], ...]:
    """`(number, name, sql)` for every file in migrations/, in order."""
    folder = resources.files("tidings.storage.sqlite") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text()))
    return tuple(sorted(found))


def status(conn: sqlite3.Connection) -> MigrationStatus:
    """What is applied and what is pending, in one query; writes nothing."""
    known = ((number, name) for number, name, _ in available())
    return MigrationStatus.of(_recorded(conn), known)


def status_of_file(path: Path) -> MigrationStatus:
    """`status` of the database at `path`, opened for the question only. A missing
    file (or an in-memory database) has every migration pending and is not created."""
    if str(path) == ":memory:" or not path.exists():
        return MigrationStatus.of({}, ((number, name) for number, name, _ in available()))
    # mode=rw: never creates the file, should it vanish meanwhile.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)
    try:
        return status(conn)
    finally:
        conn.close()


def _recorded(conn: sqlite3.Connection) -> dict[int, str]:
    try:
        return {row[0]: row[1] for row in conn.execute(_RECORDED)}
    except sqlite3.OperationalError:
        # Only a database never migrated lacks the table: ask, rather than match
        # the error's text, and raise anything else.
        if conn.execute(_HAS_TABLE).fetchone() is not None:
            raise
        return {}


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply what is missing; return the names applied. Safe to run concurrently:
    BEGIN IMMEDIATE serialises processes, and each re-checks what is applied.
    A database already current costs one read, not a write lock per migration."""
    recorded = _recorded(conn)
    done: list[str] = []
    for number, name, sql in available():
        if number not in recorded and _apply(conn, number, name, sql):
            done.append(name)
    return done


def _apply(conn: sqlite3.Connection, number: int, name: str, sql: str) -> bool:
    """Apply one migration unless another process has meanwhile; whether this did."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_CREATE_TABLE)
        if conn.execute(_IS_APPLIED, (number,)).fetchone() is not None:
            conn.execute("COMMIT")
            return False
        for statement in _statements(sql):
            conn.execute(statement)
        conn.execute(_RECORD, (number, name, now_ms()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (our migrations hold no literal semicolons)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
