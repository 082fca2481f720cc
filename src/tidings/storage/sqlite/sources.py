"""Sources, inbound events and rejections on SQLite (the receiving half)."""

from __future__ import annotations

import sqlite3
from typing import Any

from tidings.domain.models import Application, InboundEvent, Message, Rejection, Source
from tidings.storage.base import (
    CreatedMessage,
    EndpointSelector,
    Idempotency,
    SourceChanged,
    verifies_alike,
)
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.sqlite import messages, rows

# Every column a create or update writes, by name.
_WRITTEN = ("uid", "name", "type", "config", "metadata", "token", "previous_token",
            "previous_token_expires_at", "updated_at")  # fmt: skip


def params(source: Source) -> dict[str, Any]:
    return {
        "uid": source.uid,
        "name": source.name,
        "type": source.type,
        "config": rows.dump(source.config),
        "metadata": rows.dump(source.metadata),
        "token": source.token,
        "previous_token": source.previous_token,
        "previous_token_expires_at": source.previous_token_expires_at,
        "updated_at": source.updated_at,
    }


def create(conn: sqlite3.Connection, source: Source, app: Application) -> Source:
    cursor = conn.execute(
        "INSERT INTO application (id, uid, name, throttle_rate, metadata, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (app.id, app.uid, app.name, app.throttle_rate, rows.dump(app.metadata),
         app.created_at, app.updated_at),
    )  # fmt: skip
    app.key = cursor.lastrowid or 0
    source.app_key = app.key
    values = {**params(source), "id": source.id, "app_key": app.key,
              "created_at": source.created_at}  # fmt: skip
    marks = ", ".join(f":{name}" for name in values)
    cursor = conn.execute(f"INSERT INTO source ({', '.join(values)}) VALUES ({marks})", values)
    source.key = cursor.lastrowid or 0
    return source


def update(conn: sqlite3.Connection, source: Source) -> Source:
    assignments = ", ".join(f"{name} = :{name}" for name in _WRITTEN)
    conn.execute(
        f"UPDATE source SET {assignments} WHERE key = :key", {**params(source), "key": source.key}
    )
    return source


def delete(conn: sqlite3.Connection, source: Source) -> None:
    # The source, its events and rejections go with its application (ON DELETE CASCADE).
    conn.execute("DELETE FROM application WHERE key = ?", (source.app_key,))


def create_inbound(
    conn: sqlite3.Connection,
    source: Source,
    app: Application,
    message: Message,
    inbound: InboundEvent,
    select: EndpointSelector,
    idempotency: Idempotency | None,
    cache: EndpointCache | None = None,
) -> CreatedMessage:
    current = conn.execute("SELECT * FROM source WHERE key = ?", (source.key,)).fetchone()
    if not verifies_alike(source, rows.source(current) if current else None):
        raise SourceChanged(f"source {source.id!r} changed or was deleted")
    # One transaction writes at a time on SQLite, so the message's event id (the
    # provider's delivery id, indexed anyway) recognises a repeat on its own: the
    # idempotency row, which settles concurrent repeats on PostgreSQL, is not needed.
    checked = idempotency is not None and message.event_id is not None
    if checked:
        earlier = messages.replay_event(conn, app, message)
        if earlier is not None:
            return earlier
        idempotency = None
    created = messages.create(conn, app, message, select, idempotency, cache, checked)
    if created.created:
        inbound.msg_key = created.message.key
        conn.execute(
            "INSERT INTO inbound_event (msg_key, source_key, delivery_id, headers, received_at, "
            "query) VALUES (?, ?, ?, ?, ?, ?)",
            (inbound.msg_key, inbound.source_key, inbound.delivery_id,
             rows.dump(inbound.headers), inbound.received_at, inbound.query),
        )  # fmt: skip
    return created


def add_rejection(conn: sqlite3.Connection, rejection: Rejection, keep: int) -> None:
    conn.execute(
        "INSERT INTO source_rejection (source_key, status_code, reason, detail, received_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (rejection.source_key, rejection.status_code, rejection.reason, rejection.detail,
         rejection.received_at),
    )  # fmt: skip
    conn.execute(
        "DELETE FROM source_rejection WHERE source_key = ? AND key <= ("
        "SELECT key FROM source_rejection WHERE source_key = ? ORDER BY key DESC "
        "LIMIT 1 OFFSET ?)",
        (rejection.source_key, rejection.source_key, keep),
    )
