"""Database rows to domain objects, for every backend.

Both drivers hand rows back as mappings by column name; they differ only in how
structured columns arrive (SQLite: JSON text; PostgreSQL: jsonb text and text[]).
Each backend passes a `Columns` that says how to read those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from tidings.domain.access import ALL_CAPABILITIES, Capability, Token, TokenKind
from tidings.domain.models import (
    Application,
    Attempt,
    Destination,
    Endpoint,
    EventType,
    InboundEvent,
    Message,
    Rejection,
    RetiredSecret,
    Source,
)
from tidings.domain.statuses import DeliveryStatus, TriggerType
from tidings.storage.sealing import KeyRing


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


def endpoint(row: Row, columns: Columns, keys: KeyRing) -> Endpoint:
    place = f"endpoint:{row['id']}"
    retired = opened_json(columns.json(row["retired_secrets"]), keys, place + ":retired_secrets")
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
        secret=keys.open(row["secret"], place + ":secret"),
        retired_secrets=[RetiredSecret(**item) for item in retired],
        headers=opened_json(columns.json(row["headers"]), keys, place + ":headers"),
        throttle_rate=row["throttle_rate"],
        metadata=columns.json(row["metadata"]),
        trace_propagation=bool(row["trace_propagation"]),
        failing_since=row["failing_since"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def destination(row: Row, columns: Columns, keys: KeyRing, parked: int) -> Destination:
    """An endpoint row with its delivery's status and due time (d_status, d_due);
    a delivery due at `parked` waits for its endpoint, not for a time."""
    status = DeliveryStatus(row["d_status"])
    pending = status == DeliveryStatus.PENDING and row["d_due"] != parked
    return Destination(
        endpoint=endpoint(row, columns, keys),
        status=status,
        next_attempt_at=row["d_due"] if pending else None,
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


def source(row: Row, columns: Columns, keys: KeyRing) -> Source:
    place = f"source:{row['id']}"
    previous = row["previous_token"]
    return Source(
        key=row["key"],
        id=row["id"],
        uid=row["uid"],
        name=row["name"],
        type=row["type"],
        config=opened_json(columns.json(row["config"]), keys, place + ":config"),
        metadata=columns.json(row["metadata"]),
        token=keys.open(row["token"], place + ":token"),
        previous_token=None if previous is None else keys.open(previous, place + ":previous_token"),
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


def opened_json(stored: Any, keys: KeyRing, place: str) -> Any:
    """A JSON column that holds a sealed value: a JSON string sealing the JSON of
    the value. (An object or array is a value from before sealing, as it is.)"""
    if isinstance(stored, str):
        return orjson.loads(keys.open(stored, place))
    return stored


def sealed_json(value: Any, keys: KeyRing, place: str) -> Any:
    """What `opened_json` reads back as `value`: the sealed text, for the column's JSON."""
    return keys.seal(orjson.dumps(value).decode(), place)


def endpoint_secrets(ep: Endpoint, keys: KeyRing) -> dict[str, Any]:
    """The endpoint's sealed columns: the secret as text, the others as the
    JSON-column value a backend dumps."""
    place = f"endpoint:{ep.id}"
    return {
        "secret": keys.seal(ep.secret, place + ":secret"),
        "retired_secrets": sealed_json(
            [vars(item) for item in ep.retired_secrets], keys, place + ":retired_secrets"
        ),
        "headers": sealed_json(ep.headers, keys, place + ":headers"),
    }


def source_secrets(source: Source, keys: KeyRing) -> dict[str, Any]:
    """The source's sealed columns, and the keyed hashes its tokens are found by."""
    place = f"source:{source.id}"
    previous = source.previous_token
    return {
        "config": sealed_json(source.config, keys, place + ":config"),
        "token": keys.seal(source.token, place + ":token"),
        "token_lookup": keys.lookup(source.token),
        "previous_token": None
        if previous is None
        else keys.seal(previous, place + ":previous_token"),
        "previous_token_lookup": None if previous is None else keys.lookup(previous),
    }


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
    return (
        token.id,
        token.hash,
        token.name,
        token.kind.value,
        token.created_at,
        token.app_key,
        capabilities_text(token),
        token.read_only,
        token.session_id,
        token.expires_at,
        token.ends_at,
    )


TOKEN_COLUMNS = (
    "id",
    "hash",
    "name",
    "kind",
    "created_at",
    "app_key",
    "capabilities",
    "read_only",
    "session_id",
    "expires_at",
    "ends_at",
)
