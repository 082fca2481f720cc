"""Attempts and destinations: what happened to each delivery, and resending."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request

from tidings.api.base import ApiModel, ListResponse, page_response, timestamp
from tidings.api.deps import app_id, application, store_of
from tidings.api.endpoints import EndpointOut, endpoint_of, endpoint_out
from tidings.api.messages import MessageOut, message_of, message_out, split_list
from tidings.api.services import services_of
from tidings.domain.clock import from_datetime
from tidings.domain.errors import InvalidInput, NotFound
from tidings.domain.models import (
    Application,
    Attempt,
    AttemptFilter,
    Destination,
    Endpoint,
    Message,
)
from tidings.domain.statuses import DeliveryStatus

router = APIRouter(
    prefix="/api/v1/app/{app_id}", tags=["message_attempt"], dependencies=[Depends(app_id)]
)

STATUS_CODE_CLASSES = (0, 100, 200, 300, 400, 500)


class MessageAttemptOut(ApiModel):
    id: str
    msg_id: str
    endpoint_id: str
    url: str
    response: str
    response_status_code: int
    response_duration_ms: int
    status: int
    status_text: str
    trigger_type: int
    timestamp: datetime
    error: str | None = None
    # Tidings' own: what else happened, e.g. a body kept as received or a request
    # sent twice on a kept-alive connection the endpoint had closed.
    note: str | None = None
    msg: MessageOut | None = None


class MessageEndpointOut(EndpointOut):
    status: int
    status_text: str
    next_attempt: datetime | None


class EmptyResponse(ApiModel):
    pass


def attempt_out(attempt: Attempt, message: Message | None = None) -> MessageAttemptOut:
    return MessageAttemptOut(
        id=attempt.id,
        msg_id=attempt.msg_id,
        endpoint_id=attempt.endpoint_id,
        url=attempt.url,
        # Without an HTTP response there is no body; say what went wrong instead, as
        # Svix does, so SDK users (whose models drop unknown fields) see it.
        response=attempt.response if attempt.response_status_code else attempt.error or "",
        response_status_code=attempt.response_status_code,
        response_duration_ms=attempt.response_duration_ms,
        status=int(attempt.status),
        status_text=attempt.status.text,
        trigger_type=int(attempt.trigger_type),
        timestamp=timestamp(attempt.created_at),
        error=attempt.error,
        note=attempt.note,
        # Listings never carry payloads, even with with_msg (as the SDK documents).
        msg=message_out(message, with_content=False) if message else None,
    )


def destination_out(destination: Destination) -> MessageEndpointOut:
    base = endpoint_out(destination.endpoint).model_dump()
    return MessageEndpointOut(
        **base,
        status=int(destination.status),
        status_text=destination.status.text,
        next_attempt=timestamp(destination.next_attempt_at)
        if destination.next_attempt_at
        else None,
    )


def _filter(
    limit: int | None,
    iterator: str | None,
    status: DeliveryStatus | None,
    status_code_class: int | None,
    channel: str | None,
    tag: str | None,
    event_types: list[str] | None,
    before: datetime | None,
    after: datetime | None,
) -> AttemptFilter:
    if status_code_class is not None and status_code_class not in STATUS_CODE_CLASSES:
        raise InvalidInput(
            f"status_code_class must be one of {STATUS_CODE_CLASSES}",
            field="status_code_class",
            location="query",
        )
    return AttemptFilter(
        limit=limit or 50,
        iterator=iterator,
        status=status,
        status_code_class=status_code_class,
        channel=channel,
        tag=tag,
        event_types=split_list(event_types),
        before=from_datetime(before) if before else None,
        after=from_datetime(after) if after else None,
    )


@router.get("/attempt/endpoint/{endpoint_id}", response_model=ListResponse[MessageAttemptOut])
async def list_attempts_by_endpoint(
    request: Request,
    app: Application = Depends(application),
    endpoint: Endpoint = Depends(endpoint_of),
    limit: int | None = Query(default=None, ge=1, le=250),
    iterator: str | None = None,
    status: DeliveryStatus | None = None,
    status_code_class: int | None = None,
    channel: str | None = None,
    tag: str | None = None,
    event_types: list[str] | None = Query(default=None),
    before: datetime | None = None,
    after: datetime | None = None,
    with_msg: bool = False,
) -> ListResponse[MessageAttemptOut]:
    query = _filter(
        limit, iterator, status, status_code_class, channel, tag, event_types, before, after
    )
    query.endpoint_key = endpoint.key
    store = store_of(request)
    page = await store.list_attempts(app, query)
    messages: dict[str, Message | None] = {}
    if with_msg:
        for item in page.items:
            if item.msg_id not in messages:
                messages[item.msg_id] = await store.get_message(app, item.msg_id)
    return page_response(page, [attempt_out(a, messages.get(a.msg_id)) for a in page.items])


@router.get("/attempt/msg/{msg_id}", response_model=ListResponse[MessageAttemptOut])
async def list_attempts_by_msg(
    request: Request,
    app: Application = Depends(application),
    message: Message = Depends(message_of),
    limit: int | None = Query(default=None, ge=1, le=250),
    iterator: str | None = None,
    status: DeliveryStatus | None = None,
    status_code_class: int | None = None,
    channel: str | None = None,
    tag: str | None = None,
    endpoint_id: str | None = None,
    event_types: list[str] | None = Query(default=None),
    before: datetime | None = None,
    after: datetime | None = None,
) -> ListResponse[MessageAttemptOut]:
    query = _filter(
        limit, iterator, status, status_code_class, channel, tag, event_types, before, after
    )
    query.msg_key = message.key
    store = store_of(request)
    if endpoint_id is not None:
        endpoint = await store.get_endpoint(app, endpoint_id)
        if endpoint is None:
            raise NotFound(f"endpoint {endpoint_id!r} not found")
        query.endpoint_key = endpoint.key
    page = await store.list_attempts(app, query)
    return page_response(page, [attempt_out(item) for item in page.items])


@router.get("/msg/{msg_id}/endpoint", response_model=ListResponse[MessageEndpointOut])
async def list_attempted_destinations(
    request: Request,
    app: Application = Depends(application),
    message: Message = Depends(message_of),
    limit: int | None = Query(default=None, ge=1, le=250),
    iterator: str | None = None,
) -> ListResponse[MessageEndpointOut]:
    page = await store_of(request).list_destinations(app, message, limit or 50, iterator)
    return page_response(page, [destination_out(item) for item in page.items])


@router.get("/msg/{msg_id}/attempt/{attempt_id}", response_model=MessageAttemptOut)
async def get_attempt(
    request: Request,
    attempt_id: str,
    app: Application = Depends(application),
    message: Message = Depends(message_of),
) -> MessageAttemptOut:
    found = await store_of(request).get_attempt(app, message, attempt_id)
    if found is None:
        raise NotFound(f"attempt {attempt_id!r} not found")
    return attempt_out(found)


@router.post(
    "/msg/{msg_id}/endpoint/{endpoint_id}/resend", status_code=202, response_model=EmptyResponse
)
async def resend(
    request: Request,
    message: Message = Depends(message_of),
    endpoint: Endpoint = Depends(endpoint_of),
) -> EmptyResponse:
    await store_of(request).resend(message, endpoint)
    services_of(request.app).on_new_deliveries()
    return EmptyResponse()
