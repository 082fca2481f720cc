"""Conversions between SQLite rows and domain objects."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from tidings.domain.models import (
    Application,
    Attempt,
    Endpoint,
    EventType,
    InboundEvent,
    Message,
    Rejection,
    Source,
)
from tidings.storage import records


def dump(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


# SQLite keeps structured columns as JSON text, lists of strings included.
COLUMNS = records.Columns(json=load, strings=load)


def application(row: sqlite3.Row) -> Application:
    return records.application(row, COLUMNS)


def event_type(row: sqlite3.Row) -> EventType:
    return records.event_type(row, COLUMNS)


def endpoint(row: sqlite3.Row) -> Endpoint:
    return records.endpoint(row, COLUMNS)


def endpoint_params(ep: Endpoint) -> dict[str, Any]:
    return {
        "id": ep.id,
        "app_key": ep.app_key,
        "uid": ep.uid,
        "url": ep.url,
        "description": ep.description,
        "disabled": int(ep.disabled),
        "filter_types": dump(ep.filter_types),
        "channels": dump(ep.channels),
        "secret": ep.secret,
        "retired_secrets": dump([vars(item) for item in ep.retired_secrets]),
        "headers": dump(ep.headers),
        "throttle_rate": ep.throttle_rate,
        "metadata": dump(ep.metadata),
        "created_at": ep.created_at,
        "updated_at": ep.updated_at,
    }


def message(row: sqlite3.Row, with_payload: bool = True) -> Message:
    return records.message(row, COLUMNS, with_payload)


def attempt(row: sqlite3.Row) -> Attempt:
    return records.attempt(row)


def source(row: sqlite3.Row) -> Source:
    return records.source(row, COLUMNS)


def inbound(row: sqlite3.Row) -> InboundEvent:
    return records.inbound(row, COLUMNS)


def rejection(row: sqlite3.Row) -> Rejection:
    return records.rejection(row)
