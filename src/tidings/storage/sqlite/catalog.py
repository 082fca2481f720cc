"""The Catalog port on SQLite: tokens, applications, event types, endpoints and
sources. Reads run on the event loop's connection, writes on the writer thread."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

from tidings.domain.access import Token
from tidings.domain.internal import INTERNAL_UID_PREFIX
from tidings.domain.models import Application, Endpoint, EventType, Page, Source
from tidings.storage import pagination, records
from tidings.storage.sqlite import messages, queries, queue, rows, sources
from tidings.storage.sqlite.access import SqliteAccess, unique


class SqliteCatalog(SqliteAccess):
    # tokens ------------------------------------------------------------------
    async def add_token(self, token: Token) -> None:
        @unique("that token")
        def add(conn: sqlite3.Connection) -> None:
            conn.execute(queries.ADD_TOKEN, records.token_params(token))

        await self._writer.run(add)

    async def find_token(self, token_hash: str) -> Token | None:
        row = self._one(queries.FIND_TOKEN, (token_hash,))
        return None if row is None else records.token(row)

    async def list_tokens(self) -> list[Token]:
        return [records.token(row) for row in self._rows(queries.LIST_TOKENS)]

    async def end_token(self, token_id: str, at: int) -> bool:
        def end(conn: sqlite3.Connection) -> bool:
            return conn.execute(queries.END_TOKEN, (at, at, token_id)).rowcount > 0

        return await self._writer.run(end)

    async def end_app_tokens(self, app_key: int, at: int, session_ids: Sequence[str] | None) -> int:
        sql = queries.END_APP_TOKENS
        params: list[object] = [at, at, app_key]
        if session_ids is not None:
            sql += queries.in_sessions(len(session_ids))
            params += session_ids

        def end(conn: sqlite3.Connection) -> int:
            return conn.execute(sql, params).rowcount

        return await self._writer.run(end)

    async def count_tokens(self) -> int:
        row = self._one(queries.COUNT_TOKENS)
        return int(row[0]) if row else 0

    # applications ------------------------------------------------------------
    async def create_application(self, app: Application) -> Application:
        @unique(f"an application with uid {app.uid!r}")
        def insert(conn: sqlite3.Connection) -> Application:
            values = (*rows.application_params(app), app.id, app.created_at)
            app.key = conn.execute(queries.INSERT_APPLICATION, values).lastrowid or 0
            return app

        return await self._writer.run(insert)

    async def get_application(self, id_or_uid: str) -> Application | None:
        row = self._one(queries.GET_APPLICATION, (id_or_uid, id_or_uid))
        return rows.application(row) if row else None

    async def list_applications(
        self, limit: int, iterator: str | None, ascending: bool
    ) -> Page[Application]:
        walk = pagination.walk(iterator, ascending, limit)
        prefix = [len(INTERNAL_UID_PREFIX), INTERNAL_UID_PREFIX]
        return self._page(
            queries.LIST_APPLICATIONS,
            [queries.CUSTOMER_APPLICATIONS],
            prefix,
            walk,
            "key",
            rows.application,
        )

    async def update_application(self, app: Application) -> Application:
        @unique(f"an application with uid {app.uid!r}")
        def update(conn: sqlite3.Connection) -> Application:
            conn.execute(queries.UPDATE_APPLICATION, (*rows.application_params(app), app.key))
            return app

        return await self._writer.run(update)

    async def delete_application(self, app: Application) -> None:
        await self._writer.run(functools.partial(_delete_application, key=app.key))

    # event types -------------------------------------------------------------
    async def create_event_type(self, event_type: EventType) -> EventType:
        @unique(f"an event type named {event_type.name!r}")
        def insert(conn: sqlite3.Connection) -> EventType:
            values = (*rows.event_type_params(event_type), event_type.created_at)
            conn.execute(queries.INSERT_EVENT_TYPE, values)
            return event_type

        return await self._writer.run(insert)

    async def get_event_type(self, name: str) -> EventType | None:
        row = self._one(queries.GET_EVENT_TYPE, (name,))
        return rows.event_type(row) if row else None

    async def list_event_types(
        self, limit: int, iterator: str | None, ascending: bool, include_archived: bool
    ) -> Page[EventType]:
        walk = pagination.walk(iterator, ascending, limit)
        where = [] if include_archived else ["archived = 0"]
        return self._page(queries.LIST_EVENT_TYPES, where, [], walk, "key", rows.event_type)

    async def update_event_type(self, event_type: EventType) -> EventType:
        def update(conn: sqlite3.Connection) -> EventType:
            name, *changed = rows.event_type_params(event_type)
            conn.execute(queries.UPDATE_EVENT_TYPE, (*changed, name))
            return event_type

        return await self._writer.run(update)

    async def delete_event_type(self, name: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute(queries.DELETE_EVENT_TYPE, (name,))

        await self._writer.run(delete)

    # endpoints -----------------------------------------------------------------
    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        @unique(f"an endpoint with uid {endpoint.uid!r}")
        def insert(conn: sqlite3.Connection) -> Endpoint:
            values = rows.endpoint_params(endpoint, self.keys)
            cursor = conn.execute(queries.insert_named("endpoint", list(values)), values)
            endpoint.key = cursor.lastrowid or 0
            messages.endpoints_changed(conn, [endpoint.app_key])
            return endpoint

        return await self._writer.run(insert)

    async def get_endpoint(self, app: Application, id_or_uid: str) -> Endpoint | None:
        row = self._one(queries.GET_ENDPOINT, (app.key, id_or_uid, app.key, id_or_uid))
        return self._endpoint(row) if row else None

    async def list_endpoints(
        self, app: Application, limit: int, iterator: str | None, ascending: bool
    ) -> Page[Endpoint]:
        walk = pagination.walk(iterator, ascending, limit)
        return self._page(
            queries.LIST_ENDPOINTS, ["app_key = ?"], [app.key], walk, "key", self._endpoint
        )

    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        @unique(f"an endpoint with uid {endpoint.uid!r}")
        def update(conn: sqlite3.Connection) -> Endpoint:
            values = rows.endpoint_params(endpoint, self.keys)
            for fixed in queries.ENDPOINT_FIXED:
                values.pop(fixed)
            if not endpoint.disabled:
                conn.execute(queries.FORGIVE_FAILURES, (endpoint.key,))
            conn.execute(
                queries.update_named("endpoint", list(values)), {**values, "key": endpoint.key}
            )
            if not endpoint.disabled:
                queue.unpark(conn, endpoint.key)
            messages.endpoints_changed(conn, [endpoint.app_key])
            return endpoint

        return await self._writer.run(update)

    async def delete_endpoint(self, endpoint: Endpoint) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            queue.cancel_for_endpoint(conn, endpoint.key)
            conn.execute(queries.DELETE_ENDPOINT, (endpoint.key,))
            messages.endpoints_changed(conn, [endpoint.app_key])

        await self._writer.run(delete)

    # sources -------------------------------------------------------------------
    async def create_source(self, source: Source, app: Application) -> Source:
        create = unique(f"a source with uid {source.uid!r}")(sources.create)
        return await self._writer.run(lambda conn: create(conn, source, app, self.keys))

    async def get_source(self, id_or_uid: str) -> Source | None:
        row = self._one(queries.GET_SOURCE, (id_or_uid, id_or_uid))
        return self._source(row) if row else None

    async def find_source_by_token(self, token: str, now: int) -> Source | None:
        lookups = self.keys.lookups(token)
        row = self._one(queries.source_by_token(len(lookups)), (*lookups, *lookups, now))
        return self._source(row) if row else None

    async def list_sources(self, limit: int, iterator: str | None, ascending: bool) -> Page[Source]:
        walk = pagination.walk(iterator, ascending, limit)
        return self._page(queries.LIST_SOURCES, [], [], walk, "key", self._source)

    async def update_source(self, source: Source) -> Source:
        update = unique(f"a source with uid {source.uid!r}")(sources.update)
        return await self._writer.run(lambda conn: update(conn, source, self.keys))

    async def delete_source(self, source: Source) -> None:
        # The source, its events and rejections go with its application (ON DELETE CASCADE).
        await self._writer.run(functools.partial(_delete_application, key=source.app_key))


def _delete_application(conn: sqlite3.Connection, key: int) -> None:
    conn.execute(queries.DELETE_APPLICATION, (key,))
