"""What every SQLite port shares: the writer, the read connection, the sealing keys,
and the read helpers.

Writes go through the group-commit writer thread; reads use a separate
connection on the event loop's thread, which WAL lets run beside the writer.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tidings.domain.errors import Conflict, StorageUnavailable
from tidings.domain.models import Endpoint, Page, Source
from tidings.storage import pagination
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import Store
from tidings.storage.sqlite import rows
from tidings.storage.sqlite.engine.wal_watch import WalWatch
from tidings.storage.sqlite.engine.writer import GroupCommitWriter

T = TypeVar("T")


def unique(what: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turn a UNIQUE violation inside a write into a Conflict naming `what`."""

    def wrap(operation: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(operation)
        def run(*args: Any) -> T:
            try:
                return operation(*args)
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"{what} already exists") from exc

        return run

    return wrap


class SqliteAccess(Store):
    """The state the ports share; `SqliteStore` sets it up and opens it."""

    _path: Path
    _writer: GroupCommitWriter
    _read: sqlite3.Connection | None
    # Fan-out's endpoint lists per application, used by the writer thread only.
    _endpoints: EndpointCache
    # Other processes' commits, seen through the WAL file (wal_watch.py); None until
    # the first wait for work, and for good if inotify is missing.
    _watch: WalWatch | None
    _watch_failed: bool

    def _endpoint(self, row: sqlite3.Row) -> Endpoint:
        return rows.endpoint(row, self.keys)

    def _source(self, row: sqlite3.Row) -> Source:
        return rows.source(row, self.keys)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        if self._read is None:
            raise StorageUnavailable("the store is not open")
        try:
            return self._read.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StorageUnavailable(f"database read failed: {exc}") from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        found = self._rows(sql, params)
        return found[0] if found else None

    def _page(
        self,
        select: str,
        where: list[str],
        params: list[Any],
        walk: pagination.Walk,
        key: str,
        convert: Callable[[sqlite3.Row], T],
    ) -> Page[T]:
        if walk.cursor.after_key is not None:
            where = [*where, f"{key} {walk.comparison} ?"]
            params = [*params, walk.cursor.after_key]
        sql = f"{select} WHERE {' AND '.join(where) or '1'} ORDER BY {key} {walk.order} LIMIT ?"
        found = self._rows(sql, [*params, walk.fetch])
        return pagination.build_page(walk, [(row["key"], convert(row)) for row in found])
