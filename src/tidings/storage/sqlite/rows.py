"""Conversions between SQLite rows and domain objects."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from tidings.domain.models import Application, Attempt, Endpoint, EventType, Message, RetiredSecret
from tidings.domain.statuses import DeliveryStatus, TriggerType


def dump(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def application(row: sqlite3.Row) -> Application:
    return Application(
        key=row["key"],
        id=row["id"],
        uid=row["uid"],
        name=row["name"],
        throttle_rate=row["throttle_rate"],
        metadata=load(row["metadata"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def event_type(row: sqlite3.Row) -> EventType:
    return EventType(
        name=row["name"],
        description=row["description"],
        archived=bool(row["archived"]),
        deprecated=bool(row["deprecated"]),
        schemas=load(row["schemas"]),
        group_name=row["group_name"],
        feature_flags=load(row["feature_flags"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def endpoint(row: sqlite3.Row) -> Endpoint:
    return Endpoint(
        key=row["key"],
        id=row["id"],
        app_key=row["app_key"],
        uid=row["uid"],
        url=row["url"],
        description=row["description"],
        disabled=bool(row["disabled"]),
        filter_types=load(row["filter_types"]),
        channels=load(row["channels"]),
        secret=row["secret"],
        retired_secrets=[RetiredSecret(**item) for item in load(row["retired_secrets"])],
        headers=load(row["headers"]),
        throttle_rate=row["throttle_rate"],
        metadata=load(row["metadata"]),
        failing_since=row["failing_since"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


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
    return Message(
        key=row["key"],
        id=row["id"],
        app_key=row["app_key"],
        event_type=row["event_type"],
        event_id=row["event_id"],
        payload=bytes(row["payload"]) if with_payload else b"",
        channels=load(row["channels"]),
        tags=load(row["tags"]),
        created_at=row["created_at"],
    )


def attempt(row: sqlite3.Row) -> Attempt:
    return Attempt(
        id=row["id"],
        msg_id=row["msg_id"],
        endpoint_id=row["endpoint_id"],
        url=row["url"],
        status=DeliveryStatus(row["status"]),
        response_status_code=row["response_status_code"],
        response=row["response"],
        response_duration_ms=row["duration_ms"],
        trigger_type=TriggerType(row["trigger_type"]),
        error=row["error"],
        created_at=row["created_at"],
    )
