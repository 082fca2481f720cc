"""The SQLite backend: its lifecycle, and the ports put together.

Each port lives in its own module (catalog, intake, deliveries, history) over the
shared access in access.py; this one opens, seals and closes.
"""

from __future__ import annotations

import sqlite3

from tidings.domain.errors import StorageUnavailable
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import MigrationStatus
from tidings.storage.sealing import KeyRing, key_file_ring
from tidings.storage.sqlite import queries, sealed
from tidings.storage.sqlite.catalog import SqliteCatalog
from tidings.storage.sqlite.connection import connect, path_from_url
from tidings.storage.sqlite.deliveries import SqliteQueue
from tidings.storage.sqlite.engine.writer import GroupCommitWriter
from tidings.storage.sqlite.history import SqliteHistory
from tidings.storage.sqlite.intake import SqliteIntake
from tidings.storage.sqlite.migrate import migrate, status, status_of_file


class SqliteStore(SqliteCatalog, SqliteIntake, SqliteQueue, SqliteHistory):
    def __init__(self, url: str, keys: KeyRing | None = None) -> None:
        """`keys` seal secrets; without, the key file beside the database does
        (made the first time it is opened)."""
        self._path = path_from_url(url)
        self._keys = keys
        self._writer = GroupCommitWriter(self._path)
        self._read = None
        self._endpoints = EndpointCache()
        self._watch = None
        self._watch_failed = False

    async def open(self) -> None:
        try:
            conn = connect(self._path)
        except (sqlite3.Error, OSError) as exc:  # OSError: its folder cannot be made
            raise StorageUnavailable(f"cannot open {self._path}: {exc}") from exc
        try:
            migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StorageUnavailable(f"cannot migrate {self._path}: {exc}") from exc
        if self._keys is None:
            self._keys = key_file_ring(self._path.resolve().parent)
        self._read = conn
        self._writer.start()
        await self.seal_everything(only_plaintext=True)

    async def seal_everything(self, only_plaintext: bool = False) -> int:
        keys = self.keys

        def seal(conn: sqlite3.Connection) -> int:
            return sealed.seal_rows(conn, keys, only_plaintext)

        return await self._writer.run(seal)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        self._writer.stop()
        if self._read is not None:
            self._read.close()
            self._read = None

    async def migration_status(self) -> MigrationStatus:
        try:
            if self._read is not None:
                return status(self._read)
            return status_of_file(self._path)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot read {self._path}: {exc}") from exc

    async def ping(self) -> None:
        self._rows(queries.PING)
        self._writer.check()
