"""The named SQL of sources, inbound events and rejections on PostgreSQL."""

from __future__ import annotations

from typing import Any

from tidings.domain.models import Application, InboundEvent, Message, Rejection, Source
from tidings.storage import records
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import (
    CreatedMessage,
    Idempotency,
    SourceChanged,
    verifies_alike,
)
from tidings.storage.postgres import messages, queries, rows
from tidings.storage.postgres.notify import Announcer
from tidings.storage.sealing import KeyRing

_SELECT = f"SELECT {rows.columns(rows.SOURCE)} FROM source"
INSERT = """
INSERT INTO source (uid, name, type, config, metadata, token, token_lookup, previous_token,
    previous_token_lookup, previous_token_expires_at, updated_at, id, app_key, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
RETURNING key
"""
# An inbound event's transaction holds the source as it was checked until it commits:
# a change to its secret or a deletion waits. The application is locked first, in the
# order `delete_source` takes them (application, then its source by cascade).
LOCK_APPLICATION = "SELECT 1 FROM application WHERE key = $1 FOR KEY SHARE"
BY_KEY_SHARED = f"{_SELECT} WHERE key = $1 FOR SHARE"
GET = f"{_SELECT} WHERE id = $1 UNION ALL {_SELECT} WHERE uid = $1 LIMIT 1"
# Tokens are sealed: found by their keyed hashes, under every key of the ring.
BY_TOKEN = f"""
{_SELECT} WHERE token_lookup = ANY($1::text[])
UNION ALL
{_SELECT} WHERE previous_token_lookup = ANY($1::text[]) AND previous_token_expires_at > $2
LIMIT 1
"""
LIST = _SELECT
UPDATE = """
UPDATE source SET uid = $1, name = $2, type = $3, config = $4, metadata = $5, token = $6,
    token_lookup = $7, previous_token = $8, previous_token_lookup = $9,
    previous_token_expires_at = $10, updated_at = $11
WHERE key = $12
"""
INSERT_INBOUND = """
INSERT INTO inbound_event (msg_key, source_key, delivery_id, headers, received_at, query)
VALUES ($1, $2, $3, $4, $5, $6)
"""
GET_INBOUND = f"SELECT {rows.columns(rows.INBOUND)} FROM inbound_event WHERE msg_key = $1"
# A source's events after a message key, oldest first, with their messages.
LIST_INBOUND = f"""
SELECT {rows.columns(rows.INBOUND, "i")}, {rows.columns(rows.MESSAGE, "m")}
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
SELECT {rows.columns(rows.REJECTION)} FROM source_rejection WHERE source_key = $1
ORDER BY key DESC LIMIT $2
"""


def params(source: Source, keys: KeyRing) -> tuple[Any, ...]:
    """uid, name, type, config, metadata, token and its lookup, previous token, its
    lookup and expiry, updated_at (the secrets sealed)."""
    sealed = records.source_secrets(source, keys)
    return (
        source.uid,
        source.name,
        source.type,
        rows.dump(sealed["config"]),
        rows.dump(source.metadata),
        sealed["token"],
        sealed["token_lookup"],
        sealed["previous_token"],
        sealed["previous_token_lookup"],
        source.previous_token_expires_at,
        source.updated_at,
    )


async def create(conn: Any, source: Source, app: Application, keys: KeyRing) -> Source:
    app.key = await conn.fetchval(
        queries.INSERT_APPLICATION, app.id, *rows.application_params(app), app.created_at
    )
    source.app_key = app.key
    source.key = await conn.fetchval(
        INSERT, *params(source, keys), source.id, app.key, source.created_at
    )
    return source


async def create_inbound(
    conn: Any,
    verified: Source,
    app: Application,
    message: Message,
    inbound: InboundEvent,
    idempotency: Idempotency | None,
    announce: Announcer,
    keys: KeyRing,
    cache: EndpointCache | None = None,
) -> CreatedMessage:
    await conn.execute(LOCK_APPLICATION, verified.app_key)
    current = await conn.fetchrow(BY_KEY_SHARED, verified.key)
    if not verifies_alike(verified, rows.source(current, keys) if current else None):
        raise SourceChanged(f"source {verified.id!r} changed or was deleted")
    created = await messages.create(conn, app, message, idempotency, announce, keys, cache)
    if created.created:
        inbound.msg_key = created.message.key
        await conn.execute(
            INSERT_INBOUND,
            inbound.msg_key,
            inbound.source_key,
            inbound.delivery_id,
            rows.dump(inbound.headers),
            inbound.received_at,
            inbound.query,
        )
    return created


async def add_rejection(conn: Any, rejection: Rejection, keep: int) -> None:
    await conn.execute(
        INSERT_REJECTION,
        rejection.source_key,
        rejection.status_code,
        rejection.reason,
        rejection.detail,
        rejection.received_at,
    )
    await conn.execute(PRUNE_REJECTIONS, rejection.source_key, keep)
