"""Conversions between asyncpg records and domain objects, and the column lists.

Queries name their columns rather than select *, so a column added by a later
migration changes no result shape under a process still running older code.
"""

from __future__ import annotations

from typing import Any

import orjson

from tidings.domain.models import (
    Application,
    Attempt,
    Destination,
    Endpoint,
    EventType,
    InboundEvent,
    Message,
    Rejection,
    Source,
)
from tidings.storage import records
from tidings.storage.sealing import KeyRing

Row = records.Row

APPLICATION = ("key", "id", "uid", "name", "throttle_rate", "metadata", "created_at", "updated_at")
EVENT_TYPE = (
    "key",
    "name",
    "description",
    "archived",
    "deprecated",
    "schemas",
    "group_name",
    "feature_flags",
    "created_at",
    "updated_at",
)
# What create and update write; `failing_since` is the store's own, kept by record_attempts.
ENDPOINT_FIELDS = (
    "id",
    "app_key",
    "uid",
    "url",
    "description",
    "disabled",
    "filter_types",
    "channels",
    "secret",
    "retired_secrets",
    "headers",
    "throttle_rate",
    "metadata",
    "trace_propagation",
    "created_at",
    "updated_at",
)
ENDPOINT = ("key", *ENDPOINT_FIELDS, "failing_since")
MESSAGE = (
    "key",
    "id",
    "app_key",
    "event_type",
    "event_id",
    "payload",
    "channels",
    "tags",
    "created_at",
)
MESSAGE_META = tuple(name for name in MESSAGE if name != "payload")
SOURCE = (
    "key",
    "id",
    "uid",
    "name",
    "type",
    "config",
    "metadata",
    "app_key",
    "token",
    "token_lookup",
    "previous_token",
    "previous_token_lookup",
    "previous_token_expires_at",
    "created_at",
    "updated_at",
)
INBOUND = ("msg_key", "source_key", "delivery_id", "headers", "received_at", "query")
REJECTION = ("key", "source_key", "status_code", "reason", "detail", "received_at")
ATTEMPT = (
    "key",
    "id",
    "msg_id",
    "endpoint_id",
    "url",
    "status",
    "response_status_code",
    "response",
    "duration_ms",
    "trigger_type",
    "error",
    "note",
    "created_at",
)


def columns(names: tuple[str, ...], table: str | None = None) -> str:
    """`a, b, c`, or `t.a, t.b, t.c` when `table` is given (for joins)."""
    return ", ".join(f"{table}.{name}" if table else name for name in names)


def dump(value: Any) -> str | None:
    """JSON text for a json/jsonb parameter (asyncpg's default codec takes text)."""
    return None if value is None else orjson.dumps(value).decode()


def load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def strings(value: Any) -> list[str] | None:
    """A text[] column as a list; NULL stays None, as the domain distinguishes them."""
    return None if value is None else list(value)


COLUMNS = records.Columns(json=load, strings=strings)


def application(row: Row) -> Application:
    return records.application(row, COLUMNS)


def application_params(app: Application) -> tuple[Any, ...]:
    """uid, name, throttle_rate, metadata, updated_at: the fields an update writes."""
    return (app.uid, app.name, app.throttle_rate, dump(app.metadata), app.updated_at)


def event_type(row: Row) -> EventType:
    return records.event_type(row, COLUMNS)


def event_type_params(event_type: EventType) -> tuple[Any, ...]:
    """name, description, archived, deprecated, schemas, group_name, feature_flags, updated_at."""
    return (
        event_type.name,
        event_type.description,
        event_type.archived,
        event_type.deprecated,
        dump(event_type.schemas),
        event_type.group_name,
        event_type.feature_flags,
        event_type.updated_at,
    )


def endpoint(row: Row, keys: KeyRing) -> Endpoint:
    return records.endpoint(row, COLUMNS, keys)


def endpoint_params(ep: Endpoint, keys: KeyRing) -> dict[str, Any]:
    """The ENDPOINT_FIELDS, by name and in that order."""
    sealed = records.endpoint_secrets(ep, keys)
    return {
        "id": ep.id,
        "app_key": ep.app_key,
        "uid": ep.uid,
        "url": ep.url,
        "description": ep.description,
        "disabled": ep.disabled,
        "filter_types": ep.filter_types,
        "channels": ep.channels,
        "secret": sealed["secret"],
        "retired_secrets": dump(sealed["retired_secrets"]),
        "headers": dump(sealed["headers"]),
        "throttle_rate": ep.throttle_rate,
        "metadata": dump(ep.metadata),
        "trace_propagation": ep.trace_propagation,
        "created_at": ep.created_at,
        "updated_at": ep.updated_at,
    }


def destination(row: Row, keys: KeyRing, parked: int) -> Destination:
    return records.destination(row, COLUMNS, keys, parked)


def message(row: Row, with_payload: bool = True) -> Message:
    """`with_payload=False` for rows selected with MESSAGE_META."""
    return records.message(row, COLUMNS, with_payload)


def attempt(row: Row) -> Attempt:
    return records.attempt(row)


def source(row: Row, keys: KeyRing) -> Source:
    return records.source(row, COLUMNS, keys)


def inbound(row: Row) -> InboundEvent:
    return records.inbound(row, COLUMNS)


def rejection(row: Row) -> Rejection:
    return records.rejection(row)
