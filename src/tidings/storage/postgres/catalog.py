"""The Catalog port on PostgreSQL: tokens, applications, event types, endpoints and
sources, over the named SQL of queries.py and sources.py."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.domain.access import Token
from tidings.domain.internal import INTERNAL_UID_PREFIX
from tidings.domain.models import Application, Endpoint, EventType, Page, Source
from tidings.storage import pagination, records
from tidings.storage.postgres import messages, queries, queue, rows, sources
from tidings.storage.postgres.access import PostgresAccess
from tidings.storage.postgres.filters import Params


class PostgresCatalog(PostgresAccess):
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
        values = (app.id, *rows.application_params(app), app.created_at)
        conflict = f"an application with uid {app.uid!r}"
        app.key = await self._fetchval(queries.INSERT_APPLICATION, *values, conflict=conflict)
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
        values = (*rows.application_params(app), app.key)
        conflict = f"an application with uid {app.uid!r}"
        await self._execute(queries.UPDATE_APPLICATION, *values, conflict=conflict)
        return app

    async def delete_application(self, app: Application) -> None:
        await self._execute(queries.DELETE_APPLICATION, app.key)

    # event types -------------------------------------------------------------
    async def create_event_type(self, event_type: EventType) -> EventType:
        values = (*rows.event_type_params(event_type), event_type.created_at)
        conflict = f"an event type named {event_type.name!r}"
        await self._execute(queries.INSERT_EVENT_TYPE, *values, conflict=conflict)
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
        return self._endpoint(row) if row else None

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
                await conn.execute(queries.FORGIVE_FAILURES, endpoint.key)
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

    # sources -------------------------------------------------------------------
    async def create_source(self, source: Source, app: Application) -> Source:
        conflict = f"a source with uid {source.uid!r} (or its application)"
        async with self._transaction(conflict=conflict) as conn:
            return await sources.create(conn, source, app, self.keys)

    async def get_source(self, id_or_uid: str) -> Source | None:
        row = await self._fetchrow(sources.GET, id_or_uid)
        return self._source(row) if row else None

    async def find_source_by_token(self, token: str, now: int) -> Source | None:
        row = await self._fetchrow(sources.BY_TOKEN, self.keys.lookups(token), now)
        return self._source(row) if row else None

    async def list_sources(self, limit: int, iterator: str | None, ascending: bool) -> Page[Source]:
        walk = pagination.walk(iterator, ascending, limit)
        return await self._page(sources.LIST, [], Params(), walk, "key", self._source)

    async def update_source(self, source: Source) -> Source:
        values = (*sources.params(source, self.keys), source.key)
        conflict = f"a source with uid {source.uid!r}"
        await self._execute(sources.UPDATE, *values, conflict=conflict)
        return source

    async def delete_source(self, source: Source) -> None:
        # The source, its events and rejections go with its application (ON DELETE CASCADE).
        await self._execute(queries.DELETE_APPLICATION, source.app_key)
