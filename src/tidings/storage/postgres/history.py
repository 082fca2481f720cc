"""The History port on PostgreSQL: what was sent, tried and received."""

from __future__ import annotations

from tidings.domain.models import (
    Application,
    Attempt,
    AttemptFilter,
    Destination,
    InboundEvent,
    Message,
    MessageFilter,
    Page,
    Rejection,
    Source,
)
from tidings.storage import pagination
from tidings.storage.postgres import queries, queue, rows, sources
from tidings.storage.postgres.access import PostgresAccess
from tidings.storage.postgres.filters import Params, attempt_clauses, message_clauses, time_clauses


class PostgresHistory(PostgresAccess):
    async def get_message(self, app: Application, id_or_event_id: str) -> Message | None:
        row = await self._fetchrow(queries.GET_MESSAGE, app.key, id_or_event_id)
        return rows.message(row) if row else None

    async def list_messages(self, app: Application, query: MessageFilter) -> Page[Message]:
        walk = pagination.walk(query.iterator, False, query.limit)
        p = Params()
        where = [f"app_key = {p(app.key)}", *message_clauses(p, query)]
        where += time_clauses(p, "created_at", query.before, query.after)
        return await self._page(queries.LIST_MESSAGES, where, p, walk, "key", rows.message)

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
            lambda row: rows.destination(row, self.keys, queue.PARKED),
        )

    async def get_inbound(self, msg_key: int) -> InboundEvent | None:
        row = await self._fetchrow(sources.GET_INBOUND, msg_key)
        return rows.inbound(row) if row else None

    async def list_inbound(
        self, source: Source, after_msg_key: int, limit: int
    ) -> list[tuple[InboundEvent, Message]]:
        found = await self._fetch(sources.LIST_INBOUND, source.key, after_msg_key, limit)
        return [(rows.inbound(row), rows.message(row)) for row in found]

    async def list_rejections(self, source: Source, limit: int) -> list[Rejection]:
        found = await self._fetch(sources.LIST_REJECTIONS, source.key, limit)
        return [rows.rejection(row) for row in found]
