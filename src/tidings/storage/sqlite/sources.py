"""Sources, inbound events and rejections on SQLite (the receiving half)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tidings.domain.errors import Conflict, TidingsError
from tidings.domain.fanout import select_endpoints
from tidings.domain.models import Application, Endpoint, InboundEvent, Message, Rejection, Source
from tidings.storage import records
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import (
    ApplicationChanged,
    CreatedMessage,
    Idempotency,
    SourceChanged,
    verifies_alike,
)
from tidings.storage.sealing import KeyRing
from tidings.storage.sqlite import lanes, messages, queries, rows

_BY_KEY = "SELECT * FROM source WHERE key = ?"
_TOP_MESSAGE = "SELECT max(key) FROM message"
_INBOUND_COLUMNS = ("msg_key", "source_key", "delivery_id", "headers", "received_at", "query")
_ADD_REJECTION = """
INSERT INTO source_rejection (source_key, status_code, reason, detail, received_at)
VALUES (?, ?, ?, ?, ?)
"""
# Keeps the newest `keep` of the source's rejections.
_PRUNE_REJECTIONS = """
DELETE FROM source_rejection WHERE source_key = ? AND key <= (
    SELECT key FROM source_rejection WHERE source_key = ? ORDER BY key DESC LIMIT 1 OFFSET ?)
"""


def params(source: Source, keys: KeyRing) -> dict[str, Any]:
    sealed = records.source_secrets(source, keys)
    return {
        "uid": source.uid,
        "name": source.name,
        "type": source.type,
        "metadata": rows.dump(source.metadata),
        "previous_token_expires_at": source.previous_token_expires_at,
        "updated_at": source.updated_at,
        **sealed,
        "config": rows.dump(sealed["config"]),
    }


def create(conn: sqlite3.Connection, source: Source, app: Application, keys: KeyRing) -> Source:
    application = (*rows.application_params(app), app.id, app.created_at)
    app.key = conn.execute(queries.INSERT_APPLICATION, application).lastrowid or 0
    source.app_key = app.key
    values = {
        **params(source, keys),
        "id": source.id,
        "app_key": app.key,
        "created_at": source.created_at,
    }
    source.key = conn.execute(queries.insert_named("source", list(values)), values).lastrowid or 0
    return source


def update(conn: sqlite3.Connection, source: Source, keys: KeyRing) -> Source:
    conn.execute(queries.UPDATE_SOURCE, {**params(source, keys), "key": source.key})
    return source


# An application as an event saw it: its endpoints are read once per batch for each.
_AppSeen = tuple[int, str, str | None]


def _seen(app: Application) -> _AppSeen:
    return (app.key, app.id, app.uid)


@dataclass(frozen=True)
class InboundWrite:
    """One verified event to keep: `Store.create_inbound`'s arguments."""

    source: Source
    app: Application
    message: Message
    inbound: InboundEvent
    idempotency: Idempotency | None


def create_inbound_batch(
    conn: sqlite3.Connection,
    writes: list[InboundWrite],
    cache: EndpointCache | None,
    keys: KeyRing,
) -> list[CreatedMessage | Exception]:
    """`create_inbound` for many events of one source at once, as if one after the
    other: the source, its application and the delivery ids already kept are read
    once, then every new event is written in a few multi-row statements. Every
    check comes before the first write; an event that fails one gets its error
    (SourceChanged, ApplicationChanged) and the others go on."""
    found = conn.execute(_BY_KEY, (writes[0].source.key,))
    row = found.fetchone()
    current = rows.source(row, keys) if row else None
    outcomes: list[CreatedMessage | Exception | None] = [None] * len(writes)
    targets: dict[_AppSeen, Sequence[Endpoint] | Exception] = {}
    for index, write in enumerate(writes):
        if not verifies_alike(write.source, current):
            outcomes[index] = SourceChanged(f"source {write.source.id!r} changed or was deleted")
            continue
        endpoints = targets.get(_seen(write.app))
        if endpoints is None:
            try:
                endpoints = messages.endpoints(conn, write.app, cache, keys)
            except ApplicationChanged as exc:
                endpoints = exc
            targets[_seen(write.app)] = endpoints
        if isinstance(endpoints, Exception):
            outcomes[index] = endpoints
    live = [index for index, outcome in enumerate(outcomes) if outcome is None]
    for index in [i for i in live if writes[i].message.event_id is None and writes[i].idempotency]:
        try:  # what it refuses, it refuses before writing
            outcomes[index] = _create_keyed(conn, writes[index], cache, keys)
        except TidingsError as exc:
            outcomes[index] = exc
        live.remove(index)
    if live:
        new, repeats = _sort_repeats(conn, writes, live, outcomes)
        counts = _insert_all(conn, [(index, writes[index]) for index in new], targets)
        for index in new:
            outcomes[index] = CreatedMessage(writes[index].message, True, counts[index])
        for index, first in repeats:
            outcomes[index] = CreatedMessage(writes[first].message, False, counts[first])
    return outcomes  # type: ignore[return-value]


def _create_keyed(
    conn: sqlite3.Connection, write: InboundWrite, cache: EndpointCache | None, keys: KeyRing
) -> CreatedMessage:
    """An event with an idempotency key but no delivery id (receiving never sends
    one; the Store API allows it): the key settles repeats, as for any message."""
    created = messages.create(conn, write.app, write.message, write.idempotency, keys, cache)
    if created.created:
        write.inbound.msg_key = created.message.key
        messages.insert_rows(conn, "inbound_event", _INBOUND_COLUMNS, [_inbound_row(write)])
    return created


def _sort_repeats(
    conn: sqlite3.Connection,
    writes: list[InboundWrite],
    live: list[int],
    outcomes: list[CreatedMessage | Exception | None],
) -> tuple[list[int], list[tuple[int, int]]]:
    """Answer each event whose delivery id was kept already, within the window, as
    a repeat. Returns the new events' indexes, and (index, first index) for the
    repeats of an event new in this same batch. One transaction writes at a time
    on SQLite, so the delivery id (the message's event id, indexed) recognises a
    repeat on its own: no idempotency row is written, as PostgreSQL needs one to
    settle concurrent repeats."""
    app = writes[live[0]].app
    event_ids = [writes[index].message.event_id for index in live]
    since = min(writes[index].message.created_at for index in live) - messages.DEDUP_WINDOW_MS
    kept = messages.with_event_ids(conn, app, {i for i in event_ids if i is not None}, since)
    first_new: dict[str, int] = {}
    new: list[int] = []
    repeats: list[tuple[int, int]] = []
    for index, event_id in zip(live, event_ids, strict=True):
        earlier = kept.get(event_id) if event_id is not None else None
        if earlier is not None and (
            earlier["created_at"] <= writes[index].message.created_at - messages.DEDUP_WINDOW_MS
        ):
            earlier = None  # within the batch's reach, but over a day before this one
        if event_id is None or (earlier is None and event_id not in first_new):
            if event_id is not None:
                first_new[event_id] = index
            new.append(index)
        elif writes[index].idempotency is None:  # an eventId, not a delivery id
            outcomes[index] = Conflict(f"a message with eventId {event_id!r} already exists")
        elif earlier is not None:
            outcomes[index] = messages.replayed(conn, earlier)
        else:
            repeats.append((index, first_new[event_id]))
    return new, repeats


def _insert_all(
    conn: sqlite3.Connection,
    writes: list[tuple[int, InboundWrite]],
    targets: dict[_AppSeen, Sequence[Endpoint] | Exception],
) -> dict[int, int]:
    """Write the new events (messages, deliveries, lanes, inbound rows); how many
    deliveries each got, by index. Their keys follow the largest in use, as SQLite
    would choose them one insert at a time (this transaction holds the write lock)."""
    top = conn.execute(_TOP_MESSAGE).fetchone()[0] or 0
    counts: dict[int, int] = {}
    deliveries: list[tuple[int, ...]] = []
    woken: list[tuple[int, int]] = []
    for offset, (index, write) in enumerate(writes, start=1):
        message = write.message
        message.key = write.inbound.msg_key = top + offset
        endpoints = targets[_seen(write.app)]
        assert not isinstance(endpoints, Exception)
        chosen = select_endpoints(endpoints, message)
        counts[index] = len(chosen)
        deliveries += [messages.delivery_row(message, ep.key) for ep in chosen]
        woken += [(ep.key, message.created_at) for ep in chosen]
    messages.insert_rows(
        conn,
        "message",
        messages.MESSAGE_COLUMNS,
        [messages.message_row(write.message) for _, write in writes],
    )
    messages.insert_rows(conn, "delivery", messages.DELIVERY_COLUMNS, deliveries)
    lanes.wake(conn, woken)
    messages.insert_rows(
        conn, "inbound_event", _INBOUND_COLUMNS, [_inbound_row(write) for _, write in writes]
    )
    return counts


def _inbound_row(write: InboundWrite) -> tuple[Any, ...]:
    inbound = write.inbound
    return (
        inbound.msg_key,
        inbound.source_key,
        inbound.delivery_id,
        rows.dump(inbound.headers),
        inbound.received_at,
        inbound.query,
    )


def add_rejection(conn: sqlite3.Connection, rejection: Rejection, keep: int) -> None:
    conn.execute(
        _ADD_REJECTION,
        (
            rejection.source_key,
            rejection.status_code,
            rejection.reason,
            rejection.detail,
            rejection.received_at,
        ),
    )
    conn.execute(_PRUNE_REJECTIONS, (rejection.source_key, rejection.source_key, keep))
