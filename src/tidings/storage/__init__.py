"""Persistent state behind one interface; entry points pick the backend by URL."""

from __future__ import annotations

from tidings.storage.ports import CreatedMessage, Idempotency, MigrationStatus, Store
from tidings.storage.sealing import KeyRing

__all__ = ["CreatedMessage", "Idempotency", "KeyRing", "MigrationStatus", "Store", "open_store"]


def open_store(
    database_url: str, pool_size: int | None = None, keys: KeyRing | None = None
) -> Store:
    """The backend for `database_url`, not yet opened. `pool_size` caps a
    PostgreSQL connection pool (SQLite has none). `keys` seal secrets: SQLite
    without them uses a key file beside the database; PostgreSQL needs them.

    The URL is expected checked already (tidings.config refuses the others when the
    setting is read); this raises ValueError for one that slipped past."""
    if database_url.startswith("sqlite:"):
        from tidings.storage.sqlite.store import SqliteStore

        return SqliteStore(database_url, keys)
    if database_url.startswith(("postgres://", "postgresql://")):
        from tidings.storage.postgres.store import MAX_CONNECTIONS, PostgresStore

        return PostgresStore(database_url, max_connections=pool_size or MAX_CONNECTIONS, keys=keys)
    scheme = database_url.split(":", 1)[0]
    raise ValueError(
        f"unsupported database URL scheme {scheme!r}; use sqlite:///path or postgresql://..."
    )
