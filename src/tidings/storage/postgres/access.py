"""What every PostgreSQL port shares: the pool, the announcer of new work, the
sealing keys, and the helpers that run statements with driver errors translated.

One asyncpg pool serves every call; each port method is one statement
(autocommit) or one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from tidings.domain.errors import StorageUnavailable
from tidings.domain.models import Endpoint, Page, Source
from tidings.storage import pagination
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import Store
from tidings.storage.postgres import rows
from tidings.storage.postgres.connection import translated
from tidings.storage.postgres.filters import Params, page_query
from tidings.storage.postgres.notify import Announcer

T = TypeVar("T")


class PostgresAccess(Store):
    """The state the ports share; `PostgresStore` sets it up and opens it."""

    _pool: Any
    _announce: Announcer
    # Fan-out's endpoint lists per application.
    _endpoints: EndpointCache

    def _endpoint(self, row: rows.Row) -> Endpoint:
        return rows.endpoint(row, self.keys)

    def _source(self, row: rows.Row) -> Source:
        return rows.source(row, self.keys)

    def _ready_pool(self) -> Any:
        if self._pool is None:
            raise StorageUnavailable("the store is not open")
        return self._pool

    async def _fetch(self, sql: str, *args: Any) -> list[rows.Row]:
        pool = self._ready_pool()
        async with translated(pool):
            return list(await pool.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: Any) -> rows.Row | None:
        pool = self._ready_pool()
        async with translated(pool):
            row: rows.Row | None = await pool.fetchrow(sql, *args)
            return row

    async def _fetchval(self, sql: str, *args: Any, conflict: str | None = None) -> Any:
        pool = self._ready_pool()
        async with translated(pool, conflict):
            return await pool.fetchval(sql, *args)

    async def _execute(self, sql: str, *args: Any, conflict: str | None = None) -> None:
        pool = self._ready_pool()
        async with translated(pool, conflict):
            await pool.execute(sql, *args)

    @contextlib.asynccontextmanager
    async def _transaction(self, conflict: str | None = None) -> AsyncIterator[Any]:
        pool = self._ready_pool()
        async with translated(pool, conflict), pool.acquire() as conn:
            try:
                async with conn.transaction():
                    yield conn
            except BaseException:
                self._announce.forget(conn)
                raise
            self._announce.committed(conn)

    async def _connection(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run `work(conn)` on one pooled connection, outside any transaction."""
        pool = self._ready_pool()
        async with translated(pool), pool.acquire() as conn:
            return await work(conn)

    async def _page(
        self,
        select: str,
        where: list[str],
        p: Params,
        walk: pagination.Walk,
        key: str,
        convert: Callable[[rows.Row], T],
    ) -> Page[T]:
        found = await self._fetch(page_query(select, where, p, walk, key), *p.values)
        return pagination.build_page(walk, [(row["key"], convert(row)) for row in found])
