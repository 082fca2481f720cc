"""/api/v1/app/{app_id}/msg: sending messages, and reading them back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import Field

from tidings.api.applications import ApplicationIn, check_uid, new_app
from tidings.api.auth import grant_of
from tidings.api.base import MAX_INT, ApiModel, InputModel, ListResponse, page_response, timestamp
from tidings.api.deps import app_id, application, store_of, visible
from tidings.api.message_creation import (
    accept_message,
    encode_payload,
    message_json,
    payload_object,
)
from tidings.api.services import services_of
from tidings.domain.clock import from_datetime
from tidings.domain.errors import NotFound
from tidings.domain.models import Application, Message, MessageFilter
from tidings.storage.ports import ApplicationChanged

router = APIRouter(
    prefix="/api/v1/app/{app_id}/msg", tags=["message"], dependencies=[Depends(app_id)]
)

EVENT_TYPE = Field(min_length=1, max_length=256, pattern=r"^[a-zA-Z0-9\-_.]+$")
CHANNEL = r"^[a-zA-Z0-9\-_.:]+$"


class MessageIn(InputModel):
    event_type: str = EVENT_TYPE
    payload: dict[str, Any]
    event_id: str | None = Field(default=None, min_length=1, max_length=256)
    channels: list[str] | None = Field(default=None, min_length=1, max_length=10)
    tags: list[str] | None = Field(default=None, max_length=5)
    application: ApplicationIn | None = None
    payload_retention_period: int | None = Field(default=None, ge=1, le=MAX_INT)
    payload_retention_hours: int | None = Field(default=None, ge=1, le=MAX_INT)


class MessageOut(ApiModel):
    id: str
    event_type: str
    event_id: str | None
    payload: dict[str, Any]
    channels: list[str] | None
    tags: list[str] | None
    timestamp: datetime


def message_out(message: Message, with_content: bool = True) -> MessageOut:
    payload = payload_object(message.payload) if with_content and message.payload else {}
    return MessageOut(
        id=message.id,
        event_type=message.event_type,
        event_id=message.event_id,
        payload=payload,
        channels=message.channels,
        tags=message.tags,
        timestamp=timestamp(message.created_at),
    )


def split_list(values: list[str] | None) -> list[str] | None:
    """Accept both `a,b` (what the SDK sends) and repeated parameters."""
    if not values:
        return None
    return [item for value in values for item in value.split(",") if item]


async def _application_for_message(request: Request, app_id: str, body: MessageIn) -> Application:
    store = store_of(request)
    found = await store.get_application(app_id)
    if found is not None or body.application is None or not grant_of(request).is_admin:
        return visible(request, app_id, found)
    app = new_app(body.application)
    app.uid = body.application.uid or app_id
    check_uid(app.uid)
    return await store.create_application(app)


@router.post("", status_code=202, response_model=MessageOut)
async def create_message(
    request: Request,
    app_id: str,
    body: MessageIn,
    with_content: bool = True,
    idempotency_key: str | None = Header(default=None, max_length=256),
    traceparent: str | None = Header(
        default=None,
        max_length=256,
        description="W3C trace context: the message's trace continues the sender's, and "
        "endpoints that ask for it are sent it (a malformed value is ignored).",
    ),
) -> Response:
    """Accept a message; answered only once it and its deliveries are committed."""
    state = services_of(request.app)
    payload = encode_payload(body.payload, state.settings.max_payload_bytes)
    raw_body = await request.body() if idempotency_key else b""
    app = await _application_for_message(request, app_id, body)
    try:
        created = await accept_message(
            state, app, body, payload, raw_body, idempotency_key, traceparent
        )
    except ApplicationChanged:  # renamed or deleted since it was read: read it again
        app = await _application_for_message(request, app_id, body)
        created = await accept_message(
            state, app, body, payload, raw_body, idempotency_key, traceparent
        )
    return Response(message_json(created, with_content), 202, media_type="application/json")


@router.get("", response_model=ListResponse[MessageOut])
async def list_messages(
    request: Request,
    app: Application = Depends(application),
    limit: int | None = Query(default=None, ge=1, le=250),
    iterator: str | None = None,
    channel: str | None = None,
    tag: str | None = None,
    event_types: list[str] | None = Query(default=None),
    before: datetime | None = None,
    after: datetime | None = None,
    with_content: bool = True,
) -> ListResponse[MessageOut]:
    query = MessageFilter(
        limit=limit or 50,
        iterator=iterator,
        channel=channel,
        tag=tag,
        event_types=split_list(event_types),
        before=from_datetime(before) if before else None,
        after=from_datetime(after) if after else None,
    )
    page = await store_of(request).list_messages(app, query)
    return page_response(page, [message_out(item, with_content) for item in page.items])


async def message_of(
    request: Request, msg_id: str, app: Application = Depends(application)
) -> Message:
    found = await store_of(request).get_message(app, msg_id)
    if found is None:
        raise NotFound(f"message {msg_id!r} not found")
    return found


@router.get("/{msg_id}", response_model=MessageOut)
async def get_message(
    message: Message = Depends(message_of), with_content: bool = True
) -> MessageOut:
    return message_out(message, with_content)
