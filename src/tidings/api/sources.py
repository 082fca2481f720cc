"""/ingest/api/v1/source: sources (inbound URLs) and their forward targets.

Each source owns an internal application. Its ingest endpoints are that
application's endpoints, served by the same routes as customer endpoints (see
`endpoints.build_routers`); its received events are that application's messages,
readable (with their attempts, and resendable) under the source's path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import Field

from tidings.api import attempts, endpoints, messages
from tidings.api.base import ApiModel, InputModel, ListResponse, Ordering, page_response, timestamp
from tidings.api.deps import app_id, set_owner, store_of
from tidings.api.services import services_of
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict, InvalidInput, NotFound
from tidings.domain.internal import source_app_uid
from tidings.domain.models import Rejection, Source
from tidings.ingest import sources
from tidings.ingest.config_sync import is_declared
from tidings.ingest.sources import check_config
from tidings.ingest.verify import SOURCE_TYPES

PREFIX = "/ingest/api/v1/source"
router = APIRouter(prefix=PREFIX, tags=["ingest_source"])

UID = Field(default=None, min_length=1, max_length=256, pattern=r"^[a-zA-Z0-9\-_.]+$")
DEFAULT_REJECTIONS = 50


class IngestSourceIn(InputModel):
    name: str = Field(min_length=1, max_length=256)
    uid: str | None = UID
    type: str = Field(
        description="The sender's signature scheme: github, stripe, ...",
        json_schema_extra={"enum": list(SOURCE_TYPES)},
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description='Verifier settings, e.g. {"secret": "..."}; {"secrets": [new, old]} '
        "while rotating a secret.",
    )
    metadata: dict[str, str] | None = None


class IngestSourceOut(ApiModel):
    id: str
    uid: str | None
    name: str
    type: str
    # Secrets are never shown back, as the SDK's *ConfigOut models expect.
    config: dict[str, Any]
    ingest_url: str
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime


class RotateTokenOut(ApiModel):
    ingest_url: str


class RejectionOut(ApiModel):
    status_code: int
    reason: str
    detail: str
    timestamp: datetime


def _refuse_if_declared(source: Source, change: str) -> None:
    """A source the config file declares is the file's, with its verifier and
    actions: through the API a token could otherwise make it verify nothing and run
    its commands for anyone."""
    if is_declared(source.metadata):
        raise Conflict(
            f"source {source.uid or source.id} is declared in the config file; {change} it there"
        )


def public_base(request: Request) -> str:
    """Where senders reach this server: the operator's setting, else this request's."""
    configured = services_of(request.app).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def source_out(request: Request, source: Source) -> IngestSourceOut:
    return IngestSourceOut(
        id=source.id,
        uid=source.uid,
        name=source.name,
        type=source.type,
        config={},
        ingest_url=sources.ingest_url(public_base(request), source.token),
        metadata=source.metadata,
        created_at=timestamp(source.created_at),
        updated_at=timestamp(source.updated_at),
    )


def _config(body: IngestSourceIn) -> dict[str, Any]:
    try:
        return check_config(body.type, body.config)
    except ValueError as exc:
        field = "type" if str(exc).startswith("unknown source type") else "config"
        raise InvalidInput(str(exc), field=field) from None


async def source_of(request: Request, source_id: str = Path()) -> Source:
    found = await store_of(request).get_source(source_id)
    if found is None:
        raise NotFound(f"source {source_id!r} not found")
    return found


async def source_owner(request: Request, source: Source = Depends(source_of)) -> None:
    """Routes under a source act on its internal application."""
    app = await store_of(request).get_application(source_app_uid(source.id))
    if app is None:
        raise NotFound(f"source {source.id!r} not found")
    set_owner(request, app)


async def _create(request: Request, body: IngestSourceIn, uid: str | None) -> Source:
    source, app = sources.new_source(body.name, body.type, _config(body))
    source.uid = uid
    source.metadata = body.metadata or {}
    return await store_of(request).create_source(source, app)


@router.get("", response_model=ListResponse[IngestSourceOut])
async def list_sources(
    request: Request,
    limit: int | None = Query(default=None, ge=1, le=250),
    iterator: str | None = None,
    order: Ordering = Ordering.ascending,
) -> ListResponse[IngestSourceOut]:
    page = await store_of(request).list_sources(limit or 50, iterator, order == Ordering.ascending)
    return page_response(page, [source_out(request, item) for item in page.items])


@router.post("", status_code=201, response_model=IngestSourceOut)
async def create_source(request: Request, body: IngestSourceIn) -> IngestSourceOut:
    return source_out(request, await _create(request, body, body.uid))


@router.get("/{source_id}", response_model=IngestSourceOut)
async def get_source(request: Request, source: Source = Depends(source_of)) -> IngestSourceOut:
    return source_out(request, source)


@router.put("/{source_id}", response_model=IngestSourceOut)
async def upsert_source(
    request: Request, response: Response, source_id: str, body: IngestSourceIn
) -> IngestSourceOut:
    """Replace the source, or create it (with `source_id` as its uid) if it is missing.
    Its ingest URL and forward targets are kept."""
    store = store_of(request)
    found = await store.get_source(source_id)
    if found is not None:
        _refuse_if_declared(found, "change")
    if found is None:
        uid = body.uid or (None if ids.has_prefix(source_id, ids.SOURCE) else source_id)
        response.status_code = 201
        return source_out(request, await _create(request, body, uid))
    found.config = _config(body)
    found.name, found.type = body.name, body.type
    found.uid = body.uid if body.uid is not None else found.uid
    found.metadata = body.metadata or {}
    found.updated_at = now_ms()
    return source_out(request, await store.update_source(found))


@router.delete("/{source_id}", status_code=204)
async def delete_source(request: Request, source: Source = Depends(source_of)) -> None:
    """Delete the source with its ingest URL, forward targets and received events."""
    _refuse_if_declared(source, "remove")
    await store_of(request).delete_source(source)


@router.post("/{source_id}/token/rotate", response_model=RotateTokenOut)
async def rotate_token(request: Request, source: Source = Depends(source_of)) -> RotateTokenOut:
    """Give the source a new ingest URL; the previous one keeps working for 48 h."""
    _refuse_if_declared(source, "change the ingest URL of")
    updated = await store_of(request).update_source(sources.rotate_token(source))
    return RotateTokenOut(ingest_url=sources.ingest_url(public_base(request), updated.token))


@router.get("/{source_id}/rejections", response_model=ListResponse[RejectionOut])
async def list_rejections(
    request: Request,
    source: Source = Depends(source_of),
    limit: int | None = Query(default=None, ge=1, le=100),
) -> ListResponse[RejectionOut]:
    """The most recent requests the source refused (newest first), and why."""
    found = await store_of(request).list_rejections(source, limit or DEFAULT_REJECTIONS)
    return ListResponse[RejectionOut](
        data=[_rejection_out(item) for item in found], iterator=None, done=True
    )


def _rejection_out(rejection: Rejection) -> RejectionOut:
    return RejectionOut(
        status_code=rejection.status_code,
        reason=rejection.reason,
        detail=rejection.detail,
        timestamp=timestamp(rejection.received_at),
    )


def _remounted(source_router: APIRouter, prefix: str, *, read_only: bool) -> APIRouter:
    """A customer application's routes from `source_router`, for a source's application."""
    remounted = APIRouter()
    for route in source_router.routes:
        if not isinstance(route, APIRoute) or (read_only and route.methods != {"GET"}):
            continue
        remounted.add_api_route(
            route.path.removeprefix(prefix),
            route.endpoint,
            methods=sorted(route.methods or ()),
            response_model=route.response_model,
            status_code=route.status_code,
            name=f"source_{route.name}",
            summary=route.summary,
            dependencies=[d for d in route.dependencies if d.dependency is not app_id],
        )
    return remounted


def build_routers() -> list[APIRouter]:
    """Sources, and under each: its endpoints, received events and their attempts."""
    owned = APIRouter(prefix=PREFIX + "/{source_id}", dependencies=[Depends(source_owner)])
    owned.include_router(endpoints.routes, tags=["ingest_endpoint"])
    owned.include_router(
        _remounted(messages.router, "/api/v1/app/{app_id}", read_only=True),
        tags=["ingest_message"],
    )
    owned.include_router(
        _remounted(attempts.router, "/api/v1/app/{app_id}", read_only=False),
        tags=["ingest_message_attempt"],
    )
    return [router, owned]
