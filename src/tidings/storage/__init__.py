"""Persistent state behind one interface; entry points pick the backend by URL."""

from __future__ import annotations

from tidings.storage.base import CreatedMessage, Idempotency, Store

__all__ = ["CreatedMessage", "Idempotency", "Store", "open_store"]


def open_store(database_url: str, pool_size: int | None = None) -> Store:
    """The backend for `database_url`, not yet opened. `pool_size` caps a
    PostgreSQL connection pool (SQLite has none)."""
    if database_url.startswith("sqlite:"):
        from tidings.storage.sqlite.store import SqliteStore

        return SqliteStore(database_url)
    if database_url.startswith(("postgres://", "postgresql://")):
        from tidings.storage.postgres.store import PostgresStore

        if pool_size is None:
            return PostgresStore(database_url)
        return PostgresStore(database_url, max_connections=pool_size)
    raise ValueError(f"unsupported database URL {database_url!r}: use sqlite:///path")
