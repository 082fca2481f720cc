"""/api/v1/event-type: the catalogue of event types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AfterValidator, Field

from tidings.api.base import ApiModel, InputModel, ListResponse, Ordering, page_response, timestamp
from tidings.api.deps import store_of
from tidings.api.validation import fits_64_bits, refuse_nulls
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict, NotFound
from tidings.domain.models import EventType

router = APIRouter(prefix="/api/v1/event-type", tags=["event_type"])

NAME = Field(min_length=1, max_length=256, pattern=r"^[a-zA-Z0-9\-_.]+$")


class EventTypeIn(InputModel):
    name: str = NAME
    description: str = Field(max_length=2048)
    archived: bool | None = None
    deprecated: bool | None = None
    schemas: Annotated[dict[str, Any], AfterValidator(fits_64_bits)] | None = None
    group_name: str | None = None
    feature_flags: list[str] | None = None


class EventTypeUpdate(InputModel):
    description: str = Field(max_length=2048)
    archived: bool | None = None
    deprecated: bool | None = None
    schemas: Annotated[dict[str, Any], AfterValidator(fits_64_bits)] | None = None
    group_name: str | None = None
    feature_flags: list[str] | None = None


class EventTypePatch(InputModel):
    # May be left out, never null: defaults outside their types, so the spec says so.
    description: str = Field(default=None, max_length=2048)  # type: ignore[assignment]
    archived: bool = Field(default=None)  # type: ignore[assignment]
    deprecated: bool = Field(default=None)  # type: ignore[assignment]
    schemas: Annotated[dict[str, Any], AfterValidator(fits_64_bits)] | None = None
    group_name: str | None = None
    feature_flags: list[str] | None = None


class EventTypeOut(ApiModel):
    name: str
    description: str
    archived: bool
    deprecated: bool
    schemas: dict[str, Any] | None
    group_name: str | None
    feature_flags: list[str] | None
    created_at: datetime
    updated_at: datetime


def event_type_out(event_type: EventType) -> EventTypeOut:
    return EventTypeOut(
        name=event_type.name,
        description=event_type.description,
        archived=event_type.archived,
        deprecated=event_type.deprecated,
        schemas=event_type.schemas,
        group_name=event_type.group_name,
        feature_flags=event_type.feature_flags,
        created_at=timestamp(event_type.created_at),
        updated_at=timestamp(event_type.updated_at),
    )


async def _existing(request: Request, name: str) -> EventType:
    found = await store_of(request).get_event_type(name)
    if found is None:
        raise NotFound(f"event type {name!r} not found")
    return found


def _apply(event_type: EventType, changes: dict[str, Any]) -> EventType:
    for field, value in changes.items():
        if field in {"archived", "deprecated"}:
            value = bool(value)
        setattr(event_type, field, value)
    event_type.updated_at = now_ms()
    return event_type


@router.get("", response_model=ListResponse[EventTypeOut])
async def list_event_types(
    request: Request,
    limit: int | None = Query(default=None, ge=1, le=250),
    iterator: str | None = None,
    order: Ordering = Ordering.ascending,
    include_archived: bool = False,
    with_content: bool = True,
) -> ListResponse[EventTypeOut]:
    page = await store_of(request).list_event_types(
        limit or 50, iterator, order == Ordering.ascending, include_archived
    )
    data = [event_type_out(item) for item in page.items]
    if not with_content:
        for item in data:
            item.schemas = None
    return page_response(page, data)


@router.post("", status_code=201, response_model=EventTypeOut)
async def create_event_type(request: Request, body: EventTypeIn) -> EventTypeOut:
    """Create the event type, or bring an archived one back with the given fields."""
    store = store_of(request)
    fields = body.model_dump(exclude_none=True)
    archived = await store.get_event_type(body.name)
    if archived is not None and not archived.archived:
        raise Conflict(f"an event type named {body.name!r} already exists")
    if archived is not None:
        revived = _apply(archived, {"archived": False, **fields})
        return event_type_out(await store.update_event_type(revived))
    event_type = _apply(EventType(name=body.name, description=body.description), fields)
    event_type.created_at = event_type.updated_at
    return event_type_out(await store.create_event_type(event_type))


@router.get("/{event_type_name}", response_model=EventTypeOut)
async def get_event_type(request: Request, event_type_name: str) -> EventTypeOut:
    return event_type_out(await _existing(request, event_type_name))


@router.put("/{event_type_name}", response_model=EventTypeOut)
async def update_event_type(
    request: Request, response: Response, event_type_name: str, body: EventTypeUpdate
) -> EventTypeOut:
    store = store_of(request)
    found = await store.get_event_type(event_type_name)
    if found is None:
        response.status_code = 201
        created = _apply(EventType(name=event_type_name, description=""), body.model_dump())
        created.archived, created.deprecated = bool(body.archived), bool(body.deprecated)
        created.created_at = created.updated_at
        return event_type_out(await store.create_event_type(created))
    replaced = _apply(found, body.model_dump())
    return event_type_out(await store.update_event_type(replaced))


@router.patch("/{event_type_name}", response_model=EventTypeOut)
async def patch_event_type(
    request: Request, event_type_name: str, body: EventTypePatch
) -> EventTypeOut:
    refuse_nulls(body, ("description", "archived", "deprecated"))
    found = await _existing(request, event_type_name)
    changes = body.model_dump(include=body.model_fields_set)
    return event_type_out(await store_of(request).update_event_type(_apply(found, changes)))


@router.delete("/{event_type_name}", status_code=204)
async def delete_event_type(request: Request, event_type_name: str, expunge: bool = False) -> None:
    """Archive the event type, or remove it for good with `expunge=true`."""
    found = await _existing(request, event_type_name)
    store = store_of(request)
    if expunge:
        await store.delete_event_type(found.name)
    else:
        await store.update_event_type(_apply(found, {"archived": True}))
