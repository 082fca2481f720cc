"""The History port on SQLite: what was sent, tried and received, read on the event
loop's connection beside the writer."""

from __future__ import annotations

from typing import Any

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
from tidings.storage.sqlite import messages, queries, queue, rows
from tidings.storage.sqlite.access import SqliteAccess


class SqliteHistory(SqliteAccess):
    async def get_message(self, app: Application, id_or_event_id: str) -> Message | None:
        row = self._one(queries.GET_MESSAGE, (app.key, id_or_event_id, app.key, id_or_event_id))
        return rows.message(row) if row else None

    async def list_messages(self, app: Application, query: MessageFilter) -> Page[Message]:
        walk = pagination.walk(query.iterator, False, query.limit)
        where, params = messages.filter_clauses(query)
        times, time_params = messages.time_clauses("created_at", query.before, query.after)
        return self._page(
            queries.LIST_MESSAGES,
            ["app_key = ?", *where, *times],
            [app.key, *params, *time_params],
            walk,
            "key",
            rows.message,
        )

    async def list_attempts(self, app: Application, query: AttemptFilter) -> Page[Attempt]:
        walk = pagination.walk(query.iterator, False, query.limit)
        where, params = _attempt_clauses(app, query)
        return self._page(queries.LIST_ATTEMPTS, where, params, walk, "attempt.key", rows.attempt)

    async def get_attempt(self, app: Application, msg: Message, attempt_id: str) -> Attempt | None:
        row = self._one(queries.GET_ATTEMPT, (attempt_id, msg.key, app.key))
        return rows.attempt(row) if row else None

    async def list_destinations(
        self, app: Application, msg: Message, limit: int, iterator: str | None
    ) -> Page[Destination]:
        walk = pagination.walk(iterator, True, limit)
        return self._page(
            queries.LIST_DESTINATIONS,
            ["delivery.msg_key = ?", "delivery.app_key = ?"],
            [msg.key, app.key],
            walk,
            "endpoint.key",
            lambda row: rows.destination(row, self.keys, queue.PARKED),
        )

    async def get_inbound(self, msg_key: int) -> InboundEvent | None:
        row = self._one(queries.GET_INBOUND, (msg_key,))
        return rows.inbound(row) if row else None

    async def list_inbound(
        self, source: Source, after_msg_key: int, limit: int
    ) -> list[tuple[InboundEvent, Message]]:
        found = self._rows(queries.LIST_INBOUND, (source.key, after_msg_key, limit))
        return [(rows.inbound(row), rows.message(row)) for row in found]

    async def list_rejections(self, source: Source, limit: int) -> list[Rejection]:
        found = self._rows(queries.LIST_REJECTIONS, (source.key, limit))
        return [rows.rejection(row) for row in found]


def _attempt_clauses(app: Application, query: AttemptFilter) -> tuple[list[str], list[Any]]:
    where, params = messages.filter_clauses(
        MessageFilter(channel=query.channel, tag=query.tag, event_types=query.event_types)
    )
    where.append("attempt.app_key = ?")
    params.append(app.key)
    for column, value in (
        ("attempt.msg_key", query.msg_key),
        ("attempt.endpoint_key", query.endpoint_key),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.status is not None:
        where.append("attempt.status = ?")
        params.append(int(query.status))
    if query.status_code_class is not None:
        low = query.status_code_class
        where.append("attempt.response_status_code BETWEEN ? AND ?")
        params.extend([low, low + 99 if low else 0])
    times, time_params = messages.time_clauses("attempt.created_at", query.before, query.after)
    return where + times, params + time_params
