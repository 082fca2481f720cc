"""The named SQL of sources, inbound events and rejections on PostgreSQL."""

from __future__ import annotations

from typing import Any

from tidings.domain.models import Application, InboundEvent, Message, Rejection, Source
from tidings.storage import records
from tidings.storage.base import (
    CreatedMessage,
    EndpointSelector,
    Idempotency,
    SourceChanged,
    verifies_alike,
)
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.postgres import messages, queries, rows
from tidings.storage.postgres.notify import Announcer

SOURCE = ("key", "id", "uid", "name", "type", "config", "metadata", "app_key", "token",
          "previous_token", "previous_token_expires_at", "created_at", "updated_at")  # fmt: skip
INBOUND = ("msg_key", "source_key", "delivery_id", "headers", "received_at", "query")
REJECTION = ("key", "source_key", "status_code", "reason", "detail", "received_at")

_SELECT = f"SELECT {rows.columns(SOURCE)} FROM source"
INSERT = """
INSERT INTO source (uid, name, type, config, metadata, token, previous_token,
    previous_token_expires_at, updated_at, id, app_key, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING key
"""
# An inbound event's transaction holds the source as it was checked until it commits:
# a change to its secret or a deletion waits. The application is locked first, in the
# order `delete_source` takes them (application, then its source by cascade).
LOCK_APPLICATION = "SELECT 1 FROM application WHERE key = $1 FOR KEY SHARE"
BY_KEY_SHARED = f"{_SELECT} WHERE key = $1 FOR SHARE"
GET = f"{_SELECT} WHERE id = $1 UNION ALL {_SELECT} WHERE uid = $1 LIMIT 1"
BY_TOKEN = f"""
{_SELECT} WHERE token = $1
UNION ALL
{_SELECT} WHERE previous_token = $1 AND previous_token_expires_at > $2
LIMIT 1
"""
LIST = _SELECT
UPDATE = """
UPDATE source SET uid = $1, name = $2, type = $3, config = $4, metadata = $5, token = $6,
    previous_token = $7, previous_token_expires_at = $8, updated_at = $9
WHERE key = $10
"""
INSERT_INBOUND = """
INSERT INTO inbound_event (msg_key, source_key, delivery_id, headers, received_at, query)
VALUES ($1, $2, $3, $4, $5, $6)
"""
GET_INBOUND = f"SELECT {rows.columns(INBOUND)} FROM inbound_event WHERE msg_key = $1"
# A source's events after a message key, oldest first, with their messages.
LIST_INBOUND = f"""
SELECT {rows.columns(INBOUND, "i")}, {rows.columns(rows.MESSAGE, "m")}
FROM inbound_event i JOIN message m ON m.key = i.msg_key
WHERE i.source_key = $1 AND i.msg_key > $2 ORDER BY i.msg_key LIMIT $3
"""
INSERT_REJECTION = """
INSERT INTO source_rejection (source_key, status_code, reason, detail, received_at)
VALUES ($1, $2, $3, $4, $5)
"""
# Keep the latest `keep` of the source's rejections.
PRUNE_REJECTIONS = """
DELETE FROM source_rejection WHERE source_key = $1 AND key <= (
    SELECT key FROM source_rejection WHERE source_key = $1 ORDER BY key DESC OFFSET $2 LIMIT 1
)
"""
LIST_REJECTIONS = f"""
SELECT {rows.columns(REJECTION)} FROM source_rejection WHERE source_key = $1
ORDER BY key DESC LIMIT $2
"""


def params(source: Source) -> tuple[Any, ...]:
    """uid, name, type, config, metadata, token, previous token and expiry, updated_at."""
    return (source.uid, source.name, source.type, rows.dump(source.config),
            rows.dump(source.metadata), source.token, source.previous_token,
            source.previous_token_expires_at, source.updated_at)  # fmt: skip


async def create(conn: Any, source: Source, app: Application) -> Source:
    app.key = await conn.fetchval(
        queries.INSERT_APPLICATION, app.id, *rows.application_params(app), app.created_at
    )
    source.app_key = app.key
    source.key = await conn.fetchval(INSERT, *params(source), source.id, app.key, source.created_at)
    return source


async def create_inbound(
    conn: Any,
    verified: Source,
    app: Application,
    message: Message,
    inbound: InboundEvent,
    select: EndpointSelector,
    idempotency: Idempotency | None,
    announce: Announcer,
    cache: EndpointCache | None = None,
) -> CreatedMessage:
    await conn.execute(LOCK_APPLICATION, verified.app_key)
    current = await conn.fetchrow(BY_KEY_SHARED, verified.key)
    if not verifies_alike(verified, source(current) if current else None):
        raise SourceChanged(f"source {verified.id!r} changed or was deleted")
    created = await messages.create(conn, app, message, select, idempotency, announce, cache)
    if created.created:
        inbound.msg_key = created.message.key
        await conn.execute(
            INSERT_INBOUND, inbound.msg_key, inbound.source_key, inbound.delivery_id,
            rows.dump(inbound.headers), inbound.received_at, inbound.query,
        )  # fmt: skip
    return created


async def add_rejection(conn: Any, rejection: Rejection, keep: int) -> None:
    await conn.execute(
        INSERT_REJECTION, rejection.source_key, rejection.status_code, rejection.reason,
        rejection.detail, rejection.received_at,
    )  # fmt: skip
    await conn.execute(PRUNE_REJECTIONS, rejection.source_key, keep)


def source(row: rows.Row) -> Source:
    return records.source(row, rows.COLUMNS)


def inbound(row: rows.Row) -> InboundEvent:
    return records.inbound(row, rows.COLUMNS)


def rejection(row: rows.Row) -> Rejection:
    return records.rejection(row)
