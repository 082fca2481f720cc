"""Database rows to domain objects, for every backend.

Both drivers hand rows back as mappings by column name; they differ only in how
structured columns arrive (SQLite: JSON text; PostgreSQL: jsonb text and text[]).
Each backend passes a `Columns` that says how to read those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tidings.domain.access import ALL_CAPABILITIES, Capability, Token, TokenKind
from tidings.domain.models import (
    Application,
    Attempt,
    Endpoint,
    EventType,
    InboundEvent,
    Message,
    Rejection,
    RetiredSecret,
    Source,
)
from tidings.domain.statuses import DeliveryStatus, TriggerType


class Row(Protocol):
    """A result row, read by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True)
class Columns:
    """How to read a backend's structured columns."""

    # A JSON object or array column (metadata, headers, schemas, retired secrets).
    json: Callable[[Any], Any]
    # A list-of-strings column (filters, channels, tags); NULL stays None.
    strings: Callable[[Any], list[str] | None]


def application(row: Row, columns: Columns) -> Application:
    return Application(
        key=row["key"],
        id=row["id"],
        uid=row["uid"],
        name=row["name"],
        throttle_rate=row["throttle_rate"],
        metadata=columns.json(row["metadata"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def event_type(row: Row, columns: Columns) -> EventType:
    return EventType(
        name=row["name"],
        description=row["description"],
        archived=bool(row["archived"]),
        deprecated=bool(row["deprecated"]),
        schemas=columns.json(row["schemas"]),
        group_name=row["group_name"],
        feature_flags=columns.strings(row["feature_flags"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def endpoint(row: Row, columns: Columns) -> Endpoint:
    return Endpoint(
        key=row["key"],
        id=row["id"],
        app_key=row["app_key"],
        uid=row["uid"],
        url=row["url"],
        description=row["description"],
        disabled=bool(row["disabled"]),
        filter_types=columns.strings(row["filter_types"]),
        channels=columns.strings(row["channels"]),
        secret=row["secret"],
        retired_secrets=[RetiredSecret(**item) for item in columns.json(row["retired_secrets"])],
        headers=columns.json(row["headers"]),
        throttle_rate=row["throttle_rate"],
        metadata=columns.json(row["metadata"]),
        failing_since=row["failing_since"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def message(row: Row, columns: Columns, with_payload: bool = True) -> Message:
    return Message(
        key=row["key"],
        id=row["id"],
        app_key=row["app_key"],
        event_type=row["event_type"],
        event_id=row["event_id"],
        payload=bytes(row["payload"]) if with_payload else b"",
        channels=columns.strings(row["channels"]),
        tags=columns.strings(row["tags"]),
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
        note=row["note"],
        created_at=row["created_at"],
    )


def source(row: Row, columns: Columns) -> Source:
    return Source(
        key=row["key"],
        id=row["id"],
        uid=row["uid"],
        name=row["name"],
        type=row["type"],
        config=columns.json(row["config"]),
        metadata=columns.json(row["metadata"]),
        token=row["token"],
        previous_token=row["previous_token"],
        previous_token_expires_at=row["previous_token_expires_at"],
        app_key=row["app_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def inbound(row: Row, columns: Columns) -> InboundEvent:
    return InboundEvent(
        msg_key=row["msg_key"],
        source_key=row["source_key"],
        headers=columns.json(row["headers"]),
        delivery_id=row["delivery_id"],
        received_at=row["received_at"],
        query=row["query"],
    )


def rejection(row: Row) -> Rejection:
    return Rejection(
        key=row["key"],
        source_key=row["source_key"],
        status_code=row["status_code"],
        reason=row["reason"],
        detail=row["detail"],
        received_at=row["received_at"],
    )


def token(row: Row) -> Token:
    capabilities = row["capabilities"]
    return Token(
        id=row["id"],
        hash=row["hash"],
        name=row["name"],
        kind=TokenKind(row["kind"]),
        created_at=row["created_at"],
        app_key=row["app_key"],
        capabilities=ALL_CAPABILITIES if capabilities is None else capabilities_of(capabilities),
        read_only=bool(row["read_only"]),
        session_id=row["session_id"],
        expires_at=row["expires_at"],
        ends_at=row["ends_at"],
        app_id=row["app_id"],
    )


def capabilities_of(text: str) -> frozenset[Capability]:
    return frozenset(Capability(name) for name in text.split(",") if name)


def capabilities_text(token: Token) -> str | None:
    """How a token's capabilities are stored: NULL when it has them all."""
    if token.capabilities == ALL_CAPABILITIES:
        return None
    return ",".join(sorted(token.capabilities))


def token_params(token: Token) -> tuple[Any, ...]:
    """The values of `TOKEN_COLUMNS`, in order."""
    return (token.id, token.hash, token.name, token.kind.value, token.created_at,
            token.app_key, capabilities_text(token), token.read_only, token.session_id,
            token.expires_at, token.ends_at)  # fmt: skip


TOKEN_COLUMNS = ("id", "hash", "name", "kind", "created_at", "app_key", "capabilities",
                 "read_only", "session_id", "expires_at", "ends_at")  # fmt: skip
