"""Conversions between SQLite rows and domain objects."""

from __future__ import annotations

import sqlite3
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


def dump(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


# SQLite keeps structured columns as JSON text, lists of strings included.
COLUMNS = records.Columns(json=load, strings=load)


def application(row: sqlite3.Row) -> Application:
    return records.application(row, COLUMNS)


def application_params(app: Application) -> tuple[Any, ...]:
    """uid, name, throttle_rate, metadata, updated_at: the fields an update writes."""
    return (app.uid, app.name, app.throttle_rate, dump(app.metadata), app.updated_at)


def event_type(row: sqlite3.Row) -> EventType:
    return records.event_type(row, COLUMNS)


def event_type_params(event_type: EventType) -> tuple[Any, ...]:
    """name, description, archived, deprecated, schemas, group_name, feature_flags, updated_at."""
    return (
        event_type.name,
        event_type.description,
        int(event_type.archived),
        int(event_type.deprecated),
        dump(event_type.schemas),
        event_type.group_name,
        dump(event_type.feature_flags),
        event_type.updated_at,
    )


def endpoint(row: sqlite3.Row, keys: KeyRing) -> Endpoint:
    return records.endpoint(row, COLUMNS, keys)


def endpoint_params(ep: Endpoint, keys: KeyRing) -> dict[str, Any]:
    sealed = records.endpoint_secrets(ep, keys)
    return {
        "id": ep.id,
        "app_key": ep.app_key,
        "uid": ep.uid,
        "url": ep.url,
        "description": ep.description,
        "disabled": int(ep.disabled),
        "filter_types": dump(ep.filter_types),
        "channels": dump(ep.channels),
        "secret": sealed["secret"],
        "retired_secrets": dump(sealed["retired_secrets"]),
        "headers": dump(sealed["headers"]),
        "throttle_rate": ep.throttle_rate,
        "metadata": dump(ep.metadata),
        "trace_propagation": int(ep.trace_propagation),
        "created_at": ep.created_at,
        "updated_at": ep.updated_at,
    }


def destination(row: sqlite3.Row, keys: KeyRing, parked: int) -> Destination:
    return records.destination(row, COLUMNS, keys, parked)


def message(row: sqlite3.Row, with_payload: bool = True) -> Message:
    return records.message(row, COLUMNS, with_payload)


def attempt(row: sqlite3.Row) -> Attempt:
    return records.attempt(row)


def source(row: sqlite3.Row, keys: KeyRing) -> Source:
    return records.source(row, COLUMNS, keys)


def inbound(row: sqlite3.Row) -> InboundEvent:
    return records.inbound(row, COLUMNS)


def rejection(row: sqlite3.Row) -> Rejection:
    return records.rejection(row)
