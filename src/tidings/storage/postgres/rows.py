"""Conversions between asyncpg records and domain objects, and the column lists.

Queries name their columns rather than select *, so a column added by a later
migration changes no result shape under a process still running older code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tidings.domain.models import Application, Attempt, Endpoint, EventType, Message, RetiredSecret
from tidings.domain.statuses import DeliveryStatus, TriggerType

Row = Mapping[str, Any]

APPLICATION = ("key", "id", "uid", "name", "throttle_rate", "metadata", "created_at", "updated_at")
EVENT_TYPE = ("key", "name", "description", "archived", "deprecated", "schemas", "group_name",
              "feature_flags", "created_at", "updated_at")  # fmt: skip
# What create and update write; `failing_since` is the store's own, kept by record_attempts.
ENDPOINT_FIELDS = ("id", "app_key", "uid", "url", "description", "disabled", "filter_types",
                   "channels", "secret", "retired_secrets", "headers", "throttle_rate", "metadata",
                   "created_at", "updated_at")  # fmt: skip
ENDPOINT = ("key", *ENDPOINT_FIELDS, "failing_since")
MESSAGE = ("key", "id", "app_key", "event_type", "event_id", "payload", "channels", "tags",
           "created_at")  # fmt: skip
MESSAGE_META = tuple(name for name in MESSAGE if name != "payload")
ATTEMPT = ("key", "id", "msg_id", "endpoint_id", "url", "status", "response_status_code",
           "response", "duration_ms", "trigger_type", "error", "created_at")  # fmt: skip


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


def application(row: Row) -> Application:
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


def application_params(app: Application) -> tuple[Any, ...]:
    """uid, name, throttle_rate, metadata, updated_at: the fields an update writes."""
    return (app.uid, app.name, app.throttle_rate, dump(app.metadata), app.updated_at)


def event_type(row: Row) -> EventType:
    return EventType(
        name=row["name"],
        description=row["description"],
        archived=row["archived"],
        deprecated=row["deprecated"],
        schemas=load(row["schemas"]),
        group_name=row["group_name"],
        feature_flags=strings(row["feature_flags"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


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


def endpoint(row: Row) -> Endpoint:
    return Endpoint(
        key=row["key"],
        id=row["id"],
        app_key=row["app_key"],
        uid=row["uid"],
        url=row["url"],
        description=row["description"],
        disabled=row["disabled"],
        filter_types=strings(row["filter_types"]),
        channels=strings(row["channels"]),
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
    """The ENDPOINT_FIELDS, by name and in that order."""
    return {
        "id": ep.id,
        "app_key": ep.app_key,
        "uid": ep.uid,
        "url": ep.url,
        "description": ep.description,
        "disabled": ep.disabled,
        "filter_types": ep.filter_types,
        "channels": ep.channels,
        "secret": ep.secret,
        "retired_secrets": dump([vars(item) for item in ep.retired_secrets]),
        "headers": dump(ep.headers),
        "throttle_rate": ep.throttle_rate,
        "metadata": dump(ep.metadata),
        "created_at": ep.created_at,
        "updated_at": ep.updated_at,
    }


def message(row: Row, with_payload: bool = True) -> Message:
    """`with_payload=False` for rows selected with MESSAGE_META."""
    return Message(
        key=row["key"],
        id=row["id"],
        app_key=row["app_key"],
        event_type=row["event_type"],
        event_id=row["event_id"],
        payload=bytes(row["payload"]) if with_payload else b"",
        channels=strings(row["channels"]),
        tags=strings(row["tags"]),
        created_at=row["created_at"],
    )


def attempt(row: Row) -> Attempt:
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
