"""The PostgreSQL backend of the Store interface.

One asyncpg pool serves every call; each method is one statement (autocommit)
or one transaction. Workers additionally hold one LISTEN connection, opened on
their first wait for work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from tidings.domain.access import Token
from tidings.domain.errors import StorageUnavailable
from tidings.domain.internal import INTERNAL_UID_PREFIX
from tidings.domain.models import (
    Application,
    Attempt,
    AttemptFilter,
    AttemptResult,
    ClaimedDelivery,
    Destination,
    Endpoint,
    EventType,
    InboundEvent,
    Message,
    MessageFilter,
    Page,
    RecordOutcome,
    Rejection,
    Source,
)
from tidings.domain.statuses import DeliveryStatus
from tidings.storage import pagination, records
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import CreatedMessage, Idempotency, Store
from tidings.storage.postgres import (
    claim,
    lanes,
    messages,
    queries,
    queue,
    rows,
    sealed,
    sources,
)
from tidings.storage.postgres.connection import connect, create_pool, translated
from tidings.storage.postgres.filters import (
    Params,
    attempt_clauses,
    message_clauses,
    page_query,
    time_clauses,
)
from tidings.storage.postgres.migrate import migrate
from tidings.storage.postgres.notify import Announcer, WorkListener, notify
from tidings.storage.sealing import KeyRing

T = TypeVar("T")

MIN_CONNECTIONS = 1
MAX_CONNECTIONS = 10
CLOSE_TIMEOUT_SECONDS = 10.0


class PostgresStore(Store):
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
        self._pool: Any = None
        self._announce = Announcer(lambda: self._connection(notify))
        self._listener = WorkListener(lambda: connect(url, "tidings-listener"))
        self._endpoints = EndpointCache()
        self._settler = claim.LaneSettler()

    # lifecycle ---------------------------------------------------------------
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

    def _endpoint(self, row: rows.Row) -> Endpoint:
        return rows.endpoint(row, self.keys)

    def _source(self, row: rows.Row) -> Source:
        return sources.source(row, self.keys)

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

    async def ping(self) -> None:
        await self._fetchval(queries.PING)

    # The parameter's name is the interface's.
    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109
        await self._listener.wait(timeout)

    # plumbing ----------------------------------------------------------------
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
        self, select: str, where: list[str], p: Params, walk: pagination.Walk, key: str,
        convert: Callable[[rows.Row], T],
    ) -> Page[T]:  # fmt: skip
        found = await self._fetch(page_query(select, where, p, walk, key), *p.values)
        return pagination.build_page(walk, [(row["key"], convert(row)) for row in found])

    # tokens ------------------------------------------------------------------
    async def add_token(self, token: Token) -> None:
        await self._execute(queries.ADD_TOKEN, *records.token_params(token), conflict="the token")

    async def find_token(self, token_hash: str) -> Token | None:
        row = await self._fetchrow(queries.FIND_TOKEN, token_hash)
        return None if row is None else records.token(row)

    async def list_tokens(self) -> list[Token]:
        return [records.token(row) for row in await self._fetch(queries.LIST_TOKENS)]

    async def end_token(self, token_id: str, at: int) -> bool:
        return bool(await self._fetch(queries.END_TOKEN, at, token_id))

    async def end_app_tokens(self, app_key: int, at: int, session_ids: Sequence[str] | None) -> int:
        ids = None if session_ids is None else list(session_ids)
        return len(await self._fetch(queries.END_APP_TOKENS, at, app_key, ids))

    async def count_tokens(self) -> int:
        return int(await self._fetchval(queries.COUNT_TOKENS))

    # applications ------------------------------------------------------------
    async def create_application(self, app: Application) -> Application:
        app.key = await self._fetchval(
            queries.INSERT_APPLICATION, app.id, *rows.application_params(app), app.created_at,
            conflict=f"an application with uid {app.uid!r}",
        )  # fmt: skip
        return app

    async def get_application(self, id_or_uid: str) -> Application | None:
        row = await self._fetchrow(queries.GET_APPLICATION, id_or_uid)
        return rows.application(row) if row else None

    async def list_applications(
        self, limit: int, iterator: str | None, ascending: bool
    ) -> Page[Application]:
        walk = pagination.walk(iterator, ascending, limit)
        p = Params()
        customers = [f"(uid IS NULL OR NOT starts_with(uid, {p(INTERNAL_UID_PREFIX)}))"]
        return await self._page(
            queries.LIST_APPLICATIONS, customers, p, walk, "key", rows.application
        )

    async def update_application(self, app: Application) -> Application:
        await self._execute(
            queries.UPDATE_APPLICATION, *rows.application_params(app), app.key,
            conflict=f"an application with uid {app.uid!r}",
        )  # fmt: skip
        return app

    async def delete_application(self, app: Application) -> None:
        await self._execute(queries.DELETE_APPLICATION, app.key)

    # event types -------------------------------------------------------------
    async def create_event_type(self, event_type: EventType) -> EventType:
        await self._execute(
            queries.INSERT_EVENT_TYPE, *rows.event_type_params(event_type), event_type.created_at,
            conflict=f"an event type named {event_type.name!r}",
        )  # fmt: skip
        return event_type

    async def get_event_type(self, name: str) -> EventType | None:
        row = await self._fetchrow(queries.GET_EVENT_TYPE, name)
        return rows.event_type(row) if row else None

    async def list_event_types(
        self, limit: int, iterator: str | None, ascending: bool, include_archived: bool
    ) -> Page[EventType]:
        walk = pagination.walk(iterator, ascending, limit)
        where = [] if include_archived else ["NOT archived"]
        return await self._page(
            queries.LIST_EVENT_TYPES, where, Params(), walk, "key", rows.event_type
        )

    async def update_event_type(self, event_type: EventType) -> EventType:
        await self._execute(queries.UPDATE_EVENT_TYPE, *rows.event_type_params(event_type))
        return event_type

    async def delete_event_type(self, name: str) -> None:
        await self._execute(queries.DELETE_EVENT_TYPE, name)

    # endpoints ---------------------------------------------------------------
    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        async with self._transaction(conflict=f"an endpoint with uid {endpoint.uid!r}") as conn:
            values = rows.endpoint_params(endpoint, self.keys).values()
            endpoint.key = await conn.fetchval(queries.INSERT_ENDPOINT, *values)
            await messages.endpoints_changed(conn, [endpoint.app_key])
        return endpoint

    async def get_endpoint(self, app: Application, id_or_uid: str) -> Endpoint | None:
        row = await self._fetchrow(queries.GET_ENDPOINT, app.key, id_or_uid)
        return rows.endpoint(row, self.keys) if row else None

    async def list_endpoints(
        self, app: Application, limit: int, iterator: str | None, ascending: bool
    ) -> Page[Endpoint]:
        walk = pagination.walk(iterator, ascending, limit)
        p = Params()
        where = [f"app_key = {p(app.key)}"]
        return await self._page(queries.LIST_ENDPOINTS, where, p, walk, "key", self._endpoint)

    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        values = rows.endpoint_params(endpoint, self.keys)
        changed = [value for name, value in values.items() if name not in queries.ENDPOINT_FIXED]
        async with self._transaction(conflict=f"an endpoint with uid {endpoint.uid!r}") as conn:
            if not endpoint.disabled:
                # Re-enabled: the old run of failures no longer counts against it.
                await conn.execute(
                    "UPDATE endpoint SET failing_since = NULL WHERE key = $1 AND disabled",
                    endpoint.key,
                )
            await conn.execute(queries.UPDATE_ENDPOINT, endpoint.key, *changed)
            if not endpoint.disabled:
                await queue.unpark(conn, endpoint)
            await messages.endpoints_changed(conn, [endpoint.app_key])
        return endpoint

    async def delete_endpoint(self, endpoint: Endpoint) -> None:
        async with self._transaction() as conn:
            await queue.cancel_for_endpoint(conn, endpoint)
            await conn.execute(queries.DELETE_ENDPOINT, endpoint.key)
            await messages.endpoints_changed(conn, [endpoint.app_key])

    # messages ----------------------------------------------------------------
    async def create_message(
        self,
        app: Application,
        message: Message,
        idempotency: Idempotency | None,
    ) -> CreatedMessage:
        pool = self._ready_pool()
        inline = self._announce.take_turn()  # the NOTIFY rides on the create's commit
        async with translated(pool):
            created = await messages.create_at_once(
                pool, app, message, idempotency, self._endpoints, inline
            )
        if created is not None:
            if created.deliveries and not inline:
                self._announce.queued()
            return created
        async with self._transaction() as conn:
            return await messages.create(
                conn,
                app,
                message,
                idempotency,
                self._announce,
                self.keys,
                self._endpoints,
            )

    async def get_message(self, app: Application, id_or_event_id: str) -> Message | None:
        row = await self._fetchrow(queries.GET_MESSAGE, app.key, id_or_event_id)
        return rows.message(row) if row else None

    async def list_messages(self, app: Application, query: MessageFilter) -> Page[Message]:
        walk = pagination.walk(query.iterator, False, query.limit)
        p = Params()
        where = [f"app_key = {p(app.key)}", *message_clauses(p, query)]
        where += time_clauses(p, "created_at", query.before, query.after)
        return await self._page(queries.LIST_MESSAGES, where, p, walk, "key", rows.message)

    # deliveries and attempts -------------------------------------------------
    async def claim_due(
        self, limit: int, lease_ms: int, room: Mapping[int, int] | None = None
    ) -> list[ClaimedDelivery]:
        pool = self._ready_pool()
        claimed, visited = await self._connection(
            lambda conn: claim.claim_due(conn, limit, lease_ms, room or {}, self.keys)
        )
        # Settling the visited lanes takes a transaction of its own (about as long as
        # the claim): the deliveries start meanwhile rather than after it.
        self._settler.add(pool, visited)
        return claimed

    async def record_attempts(
        self, results: Sequence[AttemptResult], disable_after_ms: int
    ) -> RecordOutcome:
        async with self._transaction() as conn:
            return await queue.record_attempts(conn, results, disable_after_ms)

    async def extend_leases(self, deliveries: Sequence[ClaimedDelivery], lease_ms: int) -> None:
        await self._connection(lambda conn: queue.extend_leases(conn, deliveries, lease_ms))

    async def release(self, deliveries: Sequence[ClaimedDelivery], delay_ms: int = 0) -> None:
        async with self._transaction() as conn:
            await queue.release(conn, deliveries, delay_ms)

    async def resend(self, message: Message, endpoint: Endpoint) -> None:
        async with self._transaction() as conn:
            await queue.resend(conn, message.app_key, message.key, endpoint.key, self._announce)

    async def recover(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        async with self._transaction() as conn:
            return await queue.recover(conn, endpoint, since, until, self._announce)

    async def replay_missing(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        async with self._transaction() as conn:
            return await queue.replay_missing(conn, endpoint, since, until, self._announce)

    async def next_due_at(self, skip_endpoints: Collection[int] = ()) -> int | None:
        # Lanes a claim visited tell the truth once settled: an idle worker asks this
        # right after claiming, and would claim again for nothing otherwise.
        await self._settler.wait()
        due = await self._fetchval(lanes.NEXT_CHECK, list(skip_endpoints))
        return None if due is None or due >= lanes.NEVER else int(due)

    async def list_attempts(self, app: Application, query: AttemptFilter) -> Page[Attempt]:
        walk = pagination.walk(query.iterator, False, query.limit)
        p = Params()
        where = attempt_clauses(p, app, query)
        return await self._page(queries.LIST_ATTEMPTS, where, p, walk, "attempt.key", rows.attempt)

    async def get_attempt(self, app: Application, msg: Message, attempt_id: str) -> Attempt | None:
        row = await self._fetchrow(queries.GET_ATTEMPT, attempt_id, msg.key, app.key)
        return rows.attempt(row) if row else None

    async def list_destinations(
        self, app: Application, msg: Message, limit: int, iterator: str | None
    ) -> Page[Destination]:
        walk = pagination.walk(iterator, True, limit)
        p = Params()
        where = [f"delivery.msg_key = {p(msg.key)}", f"delivery.app_key = {p(app.key)}"]
        return await self._page(
            queries.LIST_DESTINATIONS,
            where,
            p,
            walk,
            "endpoint.key",
            lambda row: _destination(row, self.keys),
        )

    # sources -------------------------------------------------------------------
    async def create_source(self, source: Source, app: Application) -> Source:
        conflict = f"a source with uid {source.uid!r} (or its application)"
        async with self._transaction(conflict=conflict) as conn:
            return await sources.create(conn, source, app, self.keys)

    async def get_source(self, id_or_uid: str) -> Source | None:
        row = await self._fetchrow(sources.GET, id_or_uid)
        return sources.source(row, self.keys) if row else None

    async def find_source_by_token(self, token: str, now: int) -> Source | None:
        row = await self._fetchrow(sources.BY_TOKEN, self.keys.lookups(token), now)
        return sources.source(row, self.keys) if row else None

    async def list_sources(self, limit: int, iterator: str | None, ascending: bool) -> Page[Source]:
        walk = pagination.walk(iterator, ascending, limit)
        return await self._page(sources.LIST, [], Params(), walk, "key", self._source)

    async def update_source(self, source: Source) -> Source:
        await self._execute(
            sources.UPDATE, *sources.params(source, self.keys), source.key,
            conflict=f"a source with uid {source.uid!r}",
        )  # fmt: skip
        return source

    async def delete_source(self, source: Source) -> None:
        # The source, its events and rejections go with its application (ON DELETE CASCADE).
        await self._execute(queries.DELETE_APPLICATION, source.app_key)

    async def create_inbound(
        self,
        source: Source,
        app: Application,
        message: Message,
        inbound: InboundEvent,
        idempotency: Idempotency | None,
    ) -> CreatedMessage:
        async with self._transaction() as conn:
            return await sources.create_inbound(
                conn, source, app, message, inbound, idempotency, self._announce,
                self.keys, self._endpoints,
            )  # fmt: skip

    async def get_inbound(self, msg_key: int) -> InboundEvent | None:
        row = await self._fetchrow(sources.GET_INBOUND, msg_key)
        return sources.inbound(row) if row else None

    async def list_inbound(
        self, source: Source, after_msg_key: int, limit: int
    ) -> list[tuple[InboundEvent, Message]]:
        found = await self._fetch(sources.LIST_INBOUND, source.key, after_msg_key, limit)
        return [(sources.inbound(row), rows.message(row)) for row in found]

    async def add_rejection(self, rejection: Rejection, keep: int) -> None:
        async with self._transaction() as conn:
            await sources.add_rejection(conn, rejection, keep)

    async def list_rejections(self, source: Source, limit: int) -> list[Rejection]:
        found = await self._fetch(sources.LIST_REJECTIONS, source.key, limit)
        return [sources.rejection(row) for row in found]


def _destination(row: rows.Row, keys: KeyRing) -> Destination:
    status = DeliveryStatus(row["d_status"])
    pending = status == DeliveryStatus.PENDING and row["d_due"] != queue.PARKED
    return Destination(
        endpoint=rows.endpoint(row, keys),
        status=status,
        next_attempt_at=row["d_due"] if pending else None,
    )
