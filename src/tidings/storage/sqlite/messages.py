"""Message creation and listing on SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from tidings.domain.errors import Conflict, InvalidInput
from tidings.domain.fanout import select_endpoints
from tidings.domain.models import Application, Endpoint, Message, MessageFilter
from tidings.domain.statuses import DeliveryStatus
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import ApplicationChanged, CreatedMessage, Idempotency
from tidings.storage.sealing import KeyRing
from tidings.storage.sqlite import lanes, rows

# An eventId is a deduplication key for this long, as an idempotency key is.
DEDUP_WINDOW_MS = 24 * 3600 * 1000


_APPLICATION = "SELECT id, uid, endpoints_version FROM application WHERE key = ?"
_ENDPOINTS = "SELECT * FROM endpoint WHERE app_key = ?"
_KEEP_KEY = """
INSERT INTO idempotency (app_key, key, fingerprint, msg_key, created_at) VALUES (?, ?, ?, ?, ?)
"""
_KEPT_KEY = "SELECT fingerprint, msg_key, created_at FROM idempotency WHERE app_key = ? AND key = ?"
_FREE_KEY = "DELETE FROM idempotency WHERE app_key = ? AND key = ?"
_MESSAGE = "SELECT * FROM message WHERE key = ?"
_DELIVERIES = "SELECT count(*) FROM delivery WHERE msg_key = ?"
_WITH_EVENT_ID = "SELECT * FROM message WHERE app_key = ? AND event_id = ? AND created_at > ?"
_INSERT_MESSAGE = """
INSERT INTO message (id, app_key, event_type, event_id, payload, channels, tags, created_at,
    trace_context)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _with_event_ids(count: int) -> str:
    marks = ",".join("?" * count)
    return f"SELECT * FROM message WHERE app_key = ? AND event_id IN ({marks}) AND created_at > ?"


MESSAGE_COLUMNS = (
    "key",
    "id",
    "app_key",
    "event_type",
    "event_id",
    "payload",
    "channels",
    "tags",
    "created_at",
    "trace_context",
)
DELIVERY_COLUMNS = ("app_key", "msg_key", "endpoint_key", "status", "due_at", "updated_at")
_PENDING = int(DeliveryStatus.PENDING)
# Rows (or values of an IN list) per statement: well under SQLite's 32,766 bound parameters.
ROWS_PER_STATEMENT = 200
_BUMP = "UPDATE application SET endpoints_version = endpoints_version + 1 WHERE key = ?"


def create(
    conn: sqlite3.Connection,
    app: Application,
    message: Message,
    idempotency: Idempotency | None,
    keys: KeyRing,
    cache: EndpointCache | None = None,
) -> CreatedMessage:
    """This writes nothing before it may raise, so the writer runs it without a
    savepoint: its first write is the message row, after every check, and nothing
    after that can fail (endpoints and keys were read in this same transaction,
    which only this writer's thread writes to). The one exception, removing an
    idempotency key older than the window, stands whatever follows."""
    if idempotency is not None:
        earlier = _replay(conn, app, idempotency, message.created_at)
        if earlier is not None:
            return earlier
    _reject_duplicate_event_id(conn, app, message)
    chosen = select_endpoints(endpoints(conn, app, cache, keys), message)
    message.key = _insert_message(conn, message)
    deliveries = [delivery_row(message, ep.key) for ep in chosen]
    insert_rows(conn, "delivery", DELIVERY_COLUMNS, deliveries)
    lanes.wake(conn, [(ep.key, message.created_at) for ep in chosen])
    if idempotency is not None:
        key = (app.key, idempotency.key, idempotency.fingerprint)
        conn.execute(_KEEP_KEY, (*key, message.key, message.created_at))
    return CreatedMessage(message=message, created=True, deliveries=len(chosen))


def endpoints(
    conn: sqlite3.Connection, app: Application, cache: EndpointCache | None, keys: KeyRing
) -> Sequence[Endpoint]:
    """The application's endpoints as committed now: kept ones if still current."""
    found = conn.execute(_APPLICATION, (app.key,)).fetchone()
    if found is None or found[0] != app.id or found[1] != app.uid:
        raise ApplicationChanged(f"application {app.id!r} changed or was deleted")
    version = found[2]
    found_endpoints = cache.get(app, version) if cache is not None else None
    if found_endpoints is None:
        found_endpoints = [rows.endpoint(r, keys) for r in conn.execute(_ENDPOINTS, (app.key,))]
        if cache is not None:
            cache.put(app, version, found_endpoints)
    return found_endpoints


def endpoints_changed(conn: sqlite3.Connection, app_keys: Iterable[int]) -> None:
    """Record, in the changing transaction, that these applications' endpoints changed."""
    conn.executemany(_BUMP, [(key,) for key in sorted(set(app_keys))])


def _replay(
    conn: sqlite3.Connection, app: Application, idempotency: Idempotency, at: int
) -> CreatedMessage | None:
    """The message a key already made, if it is still held at `at` (the new message's
    time, as for eventIds here and for keys on PostgreSQL)."""
    row = conn.execute(_KEPT_KEY, (app.key, idempotency.key)).fetchone()
    if row is None:
        return None
    if row["created_at"] <= at - DEDUP_WINDOW_MS:
        # Keys are kept for 24 h; an older one is free to be used again.
        conn.execute(_FREE_KEY, (app.key, idempotency.key))
        return None
    if row["fingerprint"] != idempotency.fingerprint:
        raise InvalidInput(
            "idempotency-key was already used with a different request body",
            field="idempotency-key",
            location="header",
        )
    original = conn.execute(_MESSAGE, (row["msg_key"],)).fetchone()
    count = conn.execute(_DELIVERIES, (row["msg_key"],)).fetchone()[0]
    return CreatedMessage(message=rows.message(original), created=False, deliveries=count)


def replayed(conn: sqlite3.Connection, earlier: sqlite3.Row) -> CreatedMessage:
    """The answer to a repeat of the kept message `earlier`."""
    count = conn.execute(_DELIVERIES, (earlier["key"],)).fetchone()[0]
    return CreatedMessage(message=rows.message(earlier), created=False, deliveries=count)


def with_event_ids(
    conn: sqlite3.Connection, app: Application, event_ids: set[str], since: int
) -> dict[str, sqlite3.Row]:
    """The application's messages created after `since` with any of these event ids."""
    found: dict[str, sqlite3.Row] = {}
    wanted = sorted(event_ids)
    for start in range(0, len(wanted), ROWS_PER_STATEMENT):
        chunk = wanted[start : start + ROWS_PER_STATEMENT]
        for row in conn.execute(_with_event_ids(len(chunk)), (app.key, *chunk, since)):
            found[row["event_id"]] = row
    return found


def message_row(message: Message) -> tuple[Any, ...]:
    """`message` as values of MESSAGE_COLUMNS."""
    return (
        message.key,
        message.id,
        message.app_key,
        message.event_type,
        message.event_id,
        message.payload,
        rows.dump(message.channels),
        rows.dump(message.tags),
        message.created_at,
        message.trace_context,
    )


def delivery_row(message: Message, endpoint_key: int) -> tuple[int, ...]:
    """A new, pending delivery of `message`, as values of DELIVERY_COLUMNS."""
    return (
        message.app_key,
        message.key,
        endpoint_key,
        _PENDING,
        message.created_at,
        message.created_at,
    )


def insert_rows(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], values: Sequence[Sequence[Any]]
) -> None:
    """INSERT many rows in a few statements: one step (and one release of the GIL)
    per ROWS_PER_STATEMENT rows, instead of one per row."""
    row = f"({','.join('?' * len(columns))})"
    for start in range(0, len(values), ROWS_PER_STATEMENT):
        chunk = values[start : start + ROWS_PER_STATEMENT]
        conn.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {','.join([row] * len(chunk))}",
            [value for one in chunk for value in one],
        )


def _reject_duplicate_event_id(
    conn: sqlite3.Connection, app: Application, message: Message
) -> None:
    if _with_event_id(conn, app, message) is not None:
        raise Conflict(f"a message with eventId {message.event_id!r} already exists")


def _with_event_id(
    conn: sqlite3.Connection, app: Application, message: Message
) -> sqlite3.Row | None:
    if message.event_id is None:
        return None
    since = message.created_at - DEDUP_WINDOW_MS
    found: sqlite3.Row | None = conn.execute(
        _WITH_EVENT_ID, (app.key, message.event_id, since)
    ).fetchone()
    return found


def _insert_message(conn: sqlite3.Connection, message: Message) -> int:
    # Every column but the key, which SQLite chooses.
    cursor = conn.execute(_INSERT_MESSAGE, message_row(message)[1:])
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def filter_clauses(query: MessageFilter, alias: str = "message") -> tuple[list[str], list[Any]]:
    """WHERE clauses shared by message and attempt listings."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.channel is not None:
        clauses.append(f"EXISTS (SELECT 1 FROM json_each({alias}.channels) WHERE value = ?)")
        params.append(query.channel)
    if query.tag is not None:
        clauses.append(f"EXISTS (SELECT 1 FROM json_each({alias}.tags) WHERE value = ?)")
        params.append(query.tag)
    if query.event_types:
        clauses.append(f"{alias}.event_type IN ({','.join('?' * len(query.event_types))})")
        params.extend(query.event_types)
    return clauses, params


def time_clauses(column: str, before: int | None, after: int | None) -> tuple[list[str], list[int]]:
    clauses, params = [], []
    if before is not None:
        clauses.append(f"{column} < ?")
        params.append(before)
    if after is not None:
        clauses.append(f"{column} > ?")
        params.append(after)
    if before is not None and after is not None and after >= before:
        raise InvalidInput("after must be earlier than before", field="after", location="query")
    return clauses, params
