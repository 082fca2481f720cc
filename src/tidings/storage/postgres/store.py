"""The PostgreSQL backend: its lifecycle, and the ports put together.

Each port lives in its own module (catalog, intake, deliveries, history) over the
shared access in access.py; this one migrates, opens the pool, seals and closes.
Workers additionally hold one LISTEN connection, opened on their first wait for
work.
"""

from __future__ import annotations

import asyncio

from tidings.domain.errors import StorageUnavailable
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import MigrationStatus
from tidings.storage.postgres import claim, queries, sealed
from tidings.storage.postgres.catalog import PostgresCatalog
from tidings.storage.postgres.connection import connect, create_pool, translated
from tidings.storage.postgres.deliveries import PostgresQueue
from tidings.storage.postgres.history import PostgresHistory
from tidings.storage.postgres.intake import PostgresIntake
from tidings.storage.postgres.migrate import migrate, status
from tidings.storage.postgres.notify import Announcer, WorkListener, notify
from tidings.storage.sealing import KeyRing

MIN_CONNECTIONS = 1
MAX_CONNECTIONS = 10
CLOSE_TIMEOUT_SECONDS = 10.0


class PostgresStore(PostgresCatalog, PostgresIntake, PostgresQueue, PostgresHistory):
    def __init__(
        self,
        url: str,
        min_connections: int = MIN_CONNECTIONS,
        max_connections: int = MAX_CONNECTIONS,
        keys: KeyRing | None = None,
    ) -> None:
        """`keys` seal secrets; with PostgreSQL they are required (many processes, on
        many machines, must share them: TIDINGS_SECRET_KEY)."""
        self._url = url
        self._keys = keys
        self._pool_size = (min_connections, max_connections)
        self._pool = None
        self._announce = Announcer(lambda: self._connection(notify))
        self._listener = WorkListener(lambda: connect(url, "tidings-listener"))
        self._endpoints = EndpointCache()
        self._settler = claim.LaneSettler()

    async def open(self) -> None:
        if self._keys is None:
            raise StorageUnavailable(
                "PostgreSQL needs TIDINGS_SECRET_KEY, shared by every process: secrets are "
                "sealed with it (`tidings secrets new-key` prints one)"
            )
        async with translated(None):
            conn = await connect(self._url, "tidings-migrate")
            try:
                await migrate(conn)
            finally:
                await conn.close()
            self._pool = await create_pool(self._url, *self._pool_size)
        await self.seal_everything(only_plaintext=True)

    async def seal_everything(self, only_plaintext: bool = False) -> int:
        async with self._transaction() as conn:
            return await sealed.seal_rows(conn, self.keys, only_plaintext)

    async def close(self) -> None:
        await self._settler.wait(CLOSE_TIMEOUT_SECONDS)  # unsettled lanes stay early: safe
        self._settler.cancel()
        await self._listener.close()
        await self._announce.close()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_SECONDS)
        except Exception:
            pool.terminate()

    async def migration_status(self) -> MigrationStatus:
        if self._pool is not None:
            async with translated(self._pool):
                return await status(self._pool)
        # Before open(): a connection of its own, for this question only.
        async with translated(None):
            conn = await connect(self._url, "tidings-migrate")
            try:
                return await status(conn)
            finally:
                await conn.close()

    async def ping(self) -> None:
        await self._fetchval(queries.PING)
