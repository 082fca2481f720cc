"""/api/v1/app/{app_id}/endpoint: where an application's messages go."""

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
from tidings.api.deps import app_id, application, is_operational, operational_owner, store_of
from tidings.api.services import services_of
from tidings.api.validation import (
    HEADERS_SCHEMA,
    SECRET_SCHEMA,
    URL_SCHEMA,
    check_headers,
    check_url,
    refuse_nulls,
)
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict, InvalidInput, NotFound
from tidings.domain.internal import parse_action_url
from tidings.domain.models import Application, Endpoint, RetiredSecret
from tidings.ingest.config_sync import is_declared
from tidings.signing.standard import InvalidSecret, generate_secret, normalize_secret

# The routes are mounted twice: under an application's path for customer endpoints,
# and under /api/v1/operational-webhook for Tidings' own (see build_routers).
routes = APIRouter(prefix="/endpoint")

UID = Field(default=None, min_length=1, max_length=256, pattern=r"^[a-zA-Z0-9\-_.]+$")
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
)
DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600


class EndpointFields(InputModel):
    description: str | None = Field(default=None, max_length=4096)
    uid: str | None = UID
    disabled: bool | None = None
    # `eventTypes` is the SDK's name; `filterTypes` is the older wire name. Both work.
    event_types: list[str] | None = None
    filter_types: list[str] | None = None
    channels: list[str] | None = Field(default=None, max_length=10)
    throttle_rate: int | None = Field(default=None, ge=1, le=MAX_INT)
    rate_limit: int | None = Field(default=None, ge=1, le=MAX_INT)
    metadata: dict[str, str] | None = None
    version: int | None = Field(
        default=None, ge=1, le=MAX_INT, description="Accepted for old clients; ignored."
    )
    trace_propagation: bool | None = Field(
        default=None,
        description="Tidings extension: send this endpoint each message's W3C "
        "`traceparent` header (every endpoint gets it with TIDINGS_TRACE_PROPAGATION).",
    )


class EndpointIn(EndpointFields):
    url: str = Field(json_schema_extra=URL_SCHEMA)
    secret: str | None = Field(default=None, json_schema_extra=SECRET_SCHEMA)
    headers: dict[str, str] | None = Field(default=None, json_schema_extra=HEADERS_SCHEMA)


class EndpointPatch(EndpointFields):
    # May be left out, never null (the spec says so): a default outside the type.
    url: str = Field(default=None, json_schema_extra=URL_SCHEMA)  # type: ignore[assignment]
    secret: str | None = Field(default=None, json_schema_extra=SECRET_SCHEMA)


class EndpointOut(ApiModel):
    id: str
    url: str
    description: str
    uid: str | None
    disabled: bool
    event_types: list[str] | None
    filter_types: list[str] | None
    channels: list[str] | None
    throttle_rate: int | None
    rate_limit: int | None
    metadata: dict[str, str]
    version: int = 1
    # A Tidings extension (see EndpointFields); the SDK's models ignore it.
    trace_propagation: bool = False
    created_at: datetime
    updated_at: datetime


class EndpointSecretOut(ApiModel):
    key: str


class EndpointSecretRotateIn(InputModel):
    key: str | None = None
    grace_period_seconds: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)


class EndpointHeadersIn(InputModel):
    headers: dict[str, str] = Field(json_schema_extra=HEADERS_SCHEMA)


class EndpointHeadersPatchIn(InputModel):
    headers: dict[str, str] = Field(json_schema_extra=HEADERS_SCHEMA)
    delete_headers: list[str] | None = None


class EndpointHeadersOut(ApiModel):
    headers: dict[str, str]
    sensitive: list[str]


def endpoint_out(endpoint: Endpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        uid=endpoint.uid,
        disabled=endpoint.disabled,
        event_types=endpoint.filter_types,
        filter_types=endpoint.filter_types,
        channels=endpoint.channels,
        throttle_rate=endpoint.throttle_rate,
        rate_limit=endpoint.throttle_rate,
        metadata=endpoint.metadata,
        trace_propagation=endpoint.trace_propagation,
        created_at=timestamp(endpoint.created_at),
        updated_at=timestamp(endpoint.updated_at),
    )


async def endpoint_of(
    request: Request, endpoint_id: str, app: Application = Depends(application)
) -> Endpoint:
    found = await store_of(request).get_endpoint(app, endpoint_id)
    if found is None:
        raise NotFound(f"endpoint {endpoint_id!r} not found")
    return found


def _secret(value: str | None, field: str = "secret") -> str:
    if value is None:
        return generate_secret()
    try:
        return normalize_secret(value)
    except InvalidSecret as exc:
        raise InvalidInput(str(exc), field=field) from None


def _apply(endpoint: Endpoint, body: EndpointFields) -> Endpoint:
    """Copy the fields the client sent (a PUT sends all of them)."""
    given = body.model_fields_set
    url: str | None = getattr(body, "url", None)  # only EndpointIn and EndpointPatch have one
    if "url" in given and url is not None:
        endpoint.url = check_url(url)
    if "description" in given:
        endpoint.description = body.description or ""
    if "uid" in given:
        endpoint.uid = body.uid
    if "disabled" in given:
        endpoint.disabled = bool(body.disabled)
    if given & {"event_types", "filter_types"}:
        endpoint.filter_types = _nonempty(body.event_types or body.filter_types)
    if "channels" in given:
        endpoint.channels = _nonempty(body.channels)
    if given & {"throttle_rate", "rate_limit"}:
        endpoint.throttle_rate = body.throttle_rate or body.rate_limit
    if "metadata" in given:
        endpoint.metadata = body.metadata or {}
    if "trace_propagation" in given:
        endpoint.trace_propagation = bool(body.trace_propagation)
    endpoint.updated_at = now_ms()
    return endpoint


async def announce(request: Request, kind: str, app: Application, endpoint: Endpoint) -> None:
    """Report a change to a customer endpoint as an operational webhook."""
    if not is_operational(request):
        await services_of(request.app).operational.endpoint_event(kind, app, endpoint)


async def announce_update(
    request: Request, app: Application, endpoint: Endpoint, was_disabled: bool
) -> None:
    await announce(request, "endpoint.updated", app, endpoint)
    if was_disabled != endpoint.disabled:
        kind = "endpoint.disabled" if endpoint.disabled else "endpoint.enabled"
        await announce(request, kind, app, endpoint)


def _refuse_if_declared(endpoint: Endpoint, change: str) -> None:
    """An endpoint the config file declares (an action, or a forward) is the file's:
    it can be paused, recovered and replayed here, but not changed or removed, or an
    API token could repoint what the operator's file set up."""
    if is_declared(endpoint.metadata) or parse_action_url(endpoint.url) is not None:
        raise Conflict(
            f"endpoint {endpoint.uid or endpoint.id} is declared in the config file; "
            f"{change} it there (disabling, recovery and replay work here)"
        )


def _nonempty(values: list[str] | None) -> list[str] | None:
    return sorted(set(values)) if values else None


def _new_endpoint(app: Application, body: EndpointIn) -> Endpoint:
    now = now_ms()
    endpoint = Endpoint(
        id=ids.new_id(ids.ENDPOINT),
        app_key=app.key,
        url=check_url(body.url),
        secret=_secret(body.secret),
        headers=check_headers(body.headers or {}),
        created_at=now,
    )
    return _apply(endpoint, body)


@routes.get("", response_model=ListResponse[EndpointOut])
async def list_endpoints(
    request: Request,
    app: Application = Depends(application),
    limit: int | None = Query(default=None, ge=1, le=250),
    iterator: str | None = None,
    order: Ordering = Ordering.ascending,
) -> ListResponse[EndpointOut]:
    page = await store_of(request).list_endpoints(
        app, limit or 50, iterator, order == Ordering.ascending
    )
    return page_response(page, [endpoint_out(item) for item in page.items])


@routes.post("", status_code=201, response_model=EndpointOut)
async def create_endpoint(
    request: Request, body: EndpointIn, app: Application = Depends(application)
) -> EndpointOut:
    created = await store_of(request).create_endpoint(_new_endpoint(app, body))
    await announce(request, "endpoint.created", app, created)
    return endpoint_out(created)


@routes.get("/{endpoint_id}", response_model=EndpointOut)
async def get_endpoint(endpoint: Endpoint = Depends(endpoint_of)) -> EndpointOut:
    return endpoint_out(endpoint)


@routes.put("/{endpoint_id}", response_model=EndpointOut)
async def update_endpoint(
    request: Request,
    response: Response,
    endpoint_id: str,
    body: EndpointIn,
    app: Application = Depends(application),
) -> EndpointOut:
    """Replace the endpoint, or create it (with `endpoint_id` as its uid) if it is missing."""
    store = store_of(request)
    found = await store.get_endpoint(app, endpoint_id)
    if found is None:
        created = _new_endpoint(app, body)
        if body.uid is None and not ids.has_prefix(endpoint_id, ids.ENDPOINT):
            created.uid = endpoint_id
        response.status_code = 201
        stored = await store.create_endpoint(created)
        await announce(request, "endpoint.created", app, stored)
        return endpoint_out(stored)
    _refuse_if_declared(found, "change")
    was_disabled = found.disabled
    replacement = body.model_copy()
    for field in (
        "description",
        "disabled",
        "event_types",
        "channels",
        "throttle_rate",
        "metadata",
        "uid",
    ):
        replacement.model_fields_set.add(field)
    updated = await store.update_endpoint(_apply(found, replacement))
    await announce_update(request, app, updated, was_disabled)
    return endpoint_out(updated)


@routes.patch("/{endpoint_id}", response_model=EndpointOut)
async def patch_endpoint(
    request: Request,
    body: EndpointPatch,
    app: Application = Depends(application),
    endpoint: Endpoint = Depends(endpoint_of),
) -> EndpointOut:
    refuse_nulls(body, ("url", "disabled"))
    if body.model_fields_set - {"disabled"}:
        _refuse_if_declared(endpoint, "change")
    if "secret" in body.model_fields_set and body.secret is not None:
        endpoint.secret = _secret(body.secret)
    was_disabled = endpoint.disabled
    updated = await store_of(request).update_endpoint(_apply(endpoint, body))
    await announce_update(request, app, updated, was_disabled)
    return endpoint_out(updated)


@routes.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(
    request: Request,
    app: Application = Depends(application),
    endpoint: Endpoint = Depends(endpoint_of),
) -> None:
    _refuse_if_declared(endpoint, "remove")
    await store_of(request).delete_endpoint(endpoint)
    await announce(request, "endpoint.deleted", app, endpoint)


@routes.get("/{endpoint_id}/secret", response_model=EndpointSecretOut)
async def get_endpoint_secret(endpoint: Endpoint = Depends(endpoint_of)) -> EndpointSecretOut:
    return EndpointSecretOut(key=endpoint.secret)


@routes.post("/{endpoint_id}/secret/rotate", response_model=EndpointSecretOut)
async def rotate_endpoint_secret(
    request: Request, body: EndpointSecretRotateIn, endpoint: Endpoint = Depends(endpoint_of)
) -> EndpointSecretOut:
    """Switch to a new secret; the old one keeps signing (alongside) for the grace period."""
    _refuse_if_declared(endpoint, "change the secret of")
    now = now_ms()
    grace = body.grace_period_seconds
    grace = DEFAULT_ROTATION_GRACE_SECONDS if grace is None else grace
    kept = [old for old in endpoint.retired_secrets if old.expires_at > now]
    if grace:
        kept.append(RetiredSecret(secret=endpoint.secret, expires_at=now + grace * 1000))
    endpoint.retired_secrets = kept
    endpoint.secret = _secret(body.key, field="key")
    endpoint.updated_at = now
    await store_of(request).update_endpoint(endpoint)
    return EndpointSecretOut(key=endpoint.secret)


@routes.get("/{endpoint_id}/headers", response_model=EndpointHeadersOut)
async def get_endpoint_headers(endpoint: Endpoint = Depends(endpoint_of)) -> EndpointHeadersOut:
    sensitive = sorted(name for name in endpoint.headers if name.lower() in SENSITIVE_HEADERS)
    shown = {k: v for k, v in endpoint.headers.items() if k.lower() not in SENSITIVE_HEADERS}
    return EndpointHeadersOut(headers=shown, sensitive=sensitive)


@routes.put("/{endpoint_id}/headers", status_code=204)
async def update_endpoint_headers(
    request: Request, body: EndpointHeadersIn, endpoint: Endpoint = Depends(endpoint_of)
) -> None:
    _refuse_if_declared(endpoint, "change the headers of")
    endpoint.headers = check_headers(body.headers)
    endpoint.updated_at = now_ms()
    await store_of(request).update_endpoint(endpoint)


@routes.patch("/{endpoint_id}/headers", status_code=204)
async def patch_endpoint_headers(
    request: Request, body: EndpointHeadersPatchIn, endpoint: Endpoint = Depends(endpoint_of)
) -> None:
    _refuse_if_declared(endpoint, "change the headers of")
    merged = {**endpoint.headers, **check_headers(body.headers)}
    for name in body.delete_headers or ():
        merged = {k: v for k, v in merged.items() if k.lower() != name.lower()}
    endpoint.headers = merged
    endpoint.updated_at = now_ms()
    await store_of(request).update_endpoint(endpoint)


def build_routers() -> list[APIRouter]:
    """Customer endpoints under their application, and operational webhook endpoints."""
    customer = APIRouter(
        prefix="/api/v1/app/{app_id}", tags=["endpoint"], dependencies=[Depends(app_id)]
    )
    customer.include_router(routes)
    operational = APIRouter(
        prefix="/api/v1/operational-webhook",
        tags=["operational_webhook_endpoint"],
        dependencies=[Depends(operational_owner)],
    )
    operational.include_router(routes)
    return [customer, operational]
