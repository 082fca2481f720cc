"""Creating a message: the one path behind both `POST /api/v1/app/{app_id}/msg`
routes, the lean one (fast/messages.py) and FastAPI's (messages.py). Each route reads
and checks the request its own way; from the payload's bytes on, they share this."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

import orjson
import pydantic_core

from tidings.api.base import timestamp
from tidings.api.services import Services
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import PayloadTooLarge
from tidings.domain.models import Application, Message
from tidings.storage.ports import CreatedMessage, Idempotency
from tidings.telemetry import metrics, traces
from tidings.telemetry.tally import TALLY


class Envelope(Protocol):
    """What a message request says besides its payload (`MessageIn` has it)."""

    event_type: str
    event_id: str | None
    channels: list[str] | None
    tags: list[str] | None


def payload_object(raw: bytes) -> dict[str, Any]:
    """The payload as the JSON object the API shows. Messages sent through the API
    always are one; a source's inbound bodies are stored as they arrived and may be
    anything, so those are shown as `{"rawBody": <text>}` instead of failing."""
    try:
        # Not orjson: it reads integers beyond 64 bits as floats, changing them.
        parsed = pydantic_core.from_json(raw)
    except ValueError:  # not JSON, or nested deeper than the parser goes
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    return {"rawBody": raw.decode("utf-8", "replace")}


def encode_payload(payload_in: dict[str, Any], limit: int) -> bytes:
    """The payload's bytes, exactly what every endpoint receives; 413 over `limit`."""
    try:
        payload = orjson.dumps(payload_in)
    except TypeError:
        # An integer beyond 64 bits, which orjson does not write: the standard
        # library does, so the payload goes out exactly as it came in.
        payload = json.dumps(payload_in, ensure_ascii=False, separators=(",", ":")).encode()
    if len(payload) > limit:
        raise PayloadTooLarge(f"payload is {len(payload)} bytes; the limit is {limit}")
    return payload


async def accept_message(
    state: Services,
    app: Application,
    body: Envelope,
    payload: bytes,
    raw_body: bytes,
    idempotency_key: str | None,
    traceparent: str | None = None,
) -> CreatedMessage:
    """Commit one message and its deliveries (shared by the route and the lean path
    in fast/messages.py); answered only once they are committed. `traceparent` is
    the request's W3C header, if it sent one."""
    message = Message(
        id=ids.new_id(ids.MESSAGE),
        app_key=app.key,
        event_type=body.event_type,
        event_id=body.event_id,
        payload=payload,
        channels=sorted(set(body.channels)) if body.channels else None,
        tags=sorted(set(body.tags)) if body.tags else None,
        created_at=now_ms(),
    )
    idempotency = None
    if idempotency_key:
        fingerprint = hashlib.sha256(raw_body).hexdigest()
        idempotency = Idempotency(key=idempotency_key, fingerprint=fingerprint)
    if traces.enabled():
        with traces.message_created(app.id, message.id, message.event_type, traceparent) as span:
            message.trace_context = span
            created = await _store(state, app, message, idempotency)
    else:  # no span to make: the sender's context, if any, is all there is to keep
        message.trace_context = traces.valid(traceparent)
        created = await _store(state, app, message, idempotency)
    if created.created:
        _count_created(app, state.settings.metrics_app_labels)
        if created.deliveries:
            state.on_new_deliveries()
    return created


async def _store(
    state: Services, app: Application, message: Message, idempotency: Idempotency | None
) -> CreatedMessage:
    async with state.message_gate.admit(app.key, idempotency.key if idempotency else None):
        return await state.store.create_message(app, message, idempotency)


def _count_created(app: Application, by_app: bool) -> None:
    TALLY.count(metrics.MESSAGES_CREATED, (app.id if by_app else "",))


def message_json(created: CreatedMessage, with_content: bool) -> bytes:
    """The 202 body, as `MessageOut` would serialise it. A message created by this
    request shows the very payload bytes it stored."""
    message = created.message
    if not with_content or not message.payload:
        payload: Any = {}
    elif created.created:
        payload = orjson.Fragment(message.payload)
    else:
        payload = payload_object(message.payload)
    shown = {
        "id": message.id,
        "eventType": message.event_type,
        "eventId": message.event_id,
        "payload": payload,
        "channels": message.channels,
        "tags": message.tags,
        "timestamp": timestamp(message.created_at),
    }
    return orjson.dumps(shown, option=orjson.OPT_UTC_Z)
