"""/api/v1/app: applications, the unit of tenancy."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from tidings.api.base import (
    MAX_INT,
    ApiModel,
    InputModel,
    ListResponse,
    Ordering,
    page_response,
    timestamp,
)
from tidings.api.deps import app_id, application, store_of
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict, InvalidInput, NotFound
from tidings.domain.internal import is_internal_uid
from tidings.domain.models import Application

router = APIRouter(prefix="/api/v1/app", tags=["application"])

UID = Field(default=None, min_length=1, max_length=256, pattern=r"^[a-zA-Z0-9\-_.]+$")


class ApplicationIn(InputModel):
    name: str = Field(min_length=1, max_length=256)
    uid: str | None = UID
    throttle_rate: int | None = Field(default=None, ge=1, le=MAX_INT)
    rate_limit: int | None = Field(
        default=None, ge=1, le=MAX_INT, description="Alias of throttleRate."
    )
    metadata: dict[str, str] | None = None


class ApplicationPatch(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    uid: str | None = UID
    throttle_rate: int | None = Field(default=None, ge=1, le=MAX_INT)
    rate_limit: int | None = Field(default=None, ge=1, le=MAX_INT)
    metadata: dict[str, str] | None = None


class ApplicationOut(ApiModel):
    id: str
    uid: str | None
    name: str
    throttle_rate: int | None
    rate_limit: int | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime


def app_out(app: Application) -> ApplicationOut:
    return ApplicationOut(
        id=app.id,
        uid=app.uid,
        name=app.name,
        throttle_rate=app.throttle_rate,
        rate_limit=app.throttle_rate,
        metadata=app.metadata,
        created_at=timestamp(app.created_at),
        updated_at=timestamp(app.updated_at),
    )


def check_uid(uid: str | None) -> None:
    if is_internal_uid(uid):
        raise InvalidInput(f"uid {uid!r} is reserved by Tidings", field="uid")


def new_app(body: ApplicationIn) -> Application:
    check_uid(body.uid)
    now = now_ms()
    return Application(
        id=ids.new_id(ids.APP),
        name=body.name,
        uid=body.uid,
        throttle_rate=body.throttle_rate or body.rate_limit,
        metadata=body.metadata or {},
        created_at=now,
        updated_at=now,
    )


@router.get("", response_model=ListResponse[ApplicationOut])
async def list_applications(
    request: Request,
    limit: int | None = Query(default=None, ge=1, le=250),
    iterator: str | None = None,
    order: Ordering = Ordering.ascending,
) -> ListResponse[ApplicationOut]:
    page = await store_of(request).list_applications(
        limit or 50, iterator, order == Ordering.ascending
    )
    # The store leaves out Tidings' own applications (operational webhooks, sources).
    return page_response(page, [app_out(app) for app in page.items])


@router.post("", status_code=201, response_model=ApplicationOut)
async def create_application(
    request: Request, response: Response, body: ApplicationIn, get_if_exists: bool = False
) -> ApplicationOut:
    store = store_of(request)
    check_uid(body.uid)
    if body.uid is not None:
        existing = await store.get_application(body.uid)
        if existing is not None:
            if not get_if_exists:
                raise Conflict(f"an application with uid {body.uid!r} already exists")
            response.status_code = 200
            return app_out(existing)
    return app_out(await store.create_application(new_app(body)))


@router.get("/{app_id}", response_model=ApplicationOut, dependencies=[Depends(app_id)])
async def get_application(app: Application = Depends(application)) -> ApplicationOut:
    return app_out(app)


@router.put("/{app_id}", response_model=ApplicationOut)
async def upsert_application(
    request: Request, response: Response, app_id: str, body: ApplicationIn
) -> ApplicationOut:
    """Replace the application, creating it (with `app_id` as its uid) if it is missing."""
    check_uid(app_id)
    check_uid(body.uid)
    store = store_of(request)
    existing = await store.get_application(app_id)
    if existing is not None and is_internal_uid(existing.uid):
        # Tidings' own (a source's, the operational webhooks'): not the API's to change.
        raise NotFound(f"application {app_id!r} not found")
    if existing is None:
        created = new_app(body)
        created.uid = body.uid or (None if ids.has_prefix(app_id, ids.APP) else app_id)
        response.status_code = 201
        return app_out(await store.create_application(created))
    existing.name = body.name
    existing.uid = body.uid if body.uid is not None else existing.uid
    existing.throttle_rate = body.throttle_rate or body.rate_limit
    existing.metadata = body.metadata or {}
    existing.updated_at = now_ms()
    return app_out(await store.update_application(existing))


@router.patch("/{app_id}", response_model=ApplicationOut, dependencies=[Depends(app_id)])
async def patch_application(
    request: Request, body: ApplicationPatch, app: Application = Depends(application)
) -> ApplicationOut:
    given = body.model_fields_set
    check_uid(body.uid)
    if "name" in given and body.name is not None:
        app.name = body.name
    if "uid" in given:
        app.uid = body.uid
    if given & {"throttle_rate", "rate_limit"}:
        app.throttle_rate = body.throttle_rate or body.rate_limit
    if "metadata" in given:
        app.metadata = body.metadata or {}
    app.updated_at = now_ms()
    return app_out(await store_of(request).update_application(app))


@router.delete("/{app_id}", status_code=204, dependencies=[Depends(app_id)])
async def delete_application(request: Request, app: Application = Depends(application)) -> None:
    store = store_of(request)
    await store.delete_application(app)
    await store.end_app_tokens(app.key, now_ms(), None)  # its tokens go with it
