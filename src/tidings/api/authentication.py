"""Svix's authentication API: portal tokens for one application, expiring an
application's tokens, and logging a token out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import Field

from tidings.api import tokens
from tidings.api.applications import ApplicationIn, check_uid, new_app
from tidings.api.auth import Authenticator, grant_of
from tidings.api.base import ApiModel, InputModel
from tidings.api.deps import store_of, visible
from tidings.api.services import services_of
from tidings.api.sources import public_base
from tidings.domain.access import ALL_CAPABILITIES, Capability, TokenKind
from tidings.domain.clock import now_ms
from tidings.domain.errors import Forbidden, InvalidInput
from tidings.domain.models import Application

router = APIRouter(prefix="/api/v1/auth", tags=["authentication"])

HOUR, WEEK = 3600, 7 * 24 * 3600


class AppPortalAccessIn(InputModel):
    application: ApplicationIn | None = None
    read_only: bool | None = None
    capabilities: list[Capability] | None = None
    # Tidings has no feature-flagged event types: the flags change nothing.
    feature_flags: list[str] | None = None
    expiry: int | None = Field(default=None, ge=HOUR, le=WEEK)
    session_id: str | None = Field(default=None, max_length=256)


class AppPortalAccessOut(ApiModel):
    url: str
    token: str


class ApplicationTokenExpireIn(InputModel):
    expiry: int | None = Field(default=None, ge=0, le=WEEK)
    session_ids: list[str] | None = None


@router.post("/app-portal-access/{app_id}", response_model=AppPortalAccessOut)
async def app_portal_access(
    request: Request, app_id: str, body: AppPortalAccessIn
) -> AppPortalAccessOut:
    """A token for the customer portal of one application (created from
    `application` if there is none by that id or uid)."""
    capabilities = ALL_CAPABILITIES if body.capabilities is None else frozenset(body.capabilities)
    if Capability.VIEW_BASE not in capabilities:
        raise InvalidInput("capabilities must include ViewBase", field="capabilities")
    app = await _application(request, app_id, body.application)
    secret, _ = await tokens.issue(
        store_of(request),
        TokenKind.PORTAL,
        "app portal",
        app_key=app.key,
        lifetime_seconds=body.expiry or WEEK,
        capabilities=capabilities,
        read_only=bool(body.read_only),
        session_id=body.session_id,
    )
    # The token rides in the fragment, which browsers never send to a server.
    url = f"{public_base(request)}/portal/{app.id}#token={secret}"
    return AppPortalAccessOut(url=url, token=secret)


@router.post("/app/{app_id}/expire-all", status_code=204)
async def expire_all(request: Request, app_id: str, body: ApplicationTokenExpireIn) -> Response:
    """Expire the application's tokens, now or `expiry` seconds from now (only
    those of `sessionIds`, when given)."""
    store = store_of(request)
    app = visible(request, app_id, await store.get_application(app_id))
    at = now_ms() + (body.expiry or 0) * 1000
    await store.end_app_tokens(app.key, at, body.session_ids)
    _authenticator(request).forget(lambda token: token.app_key == app.key)
    return Response(status_code=204)


@router.post("/logout", status_code=204)
async def logout(request: Request) -> Response:
    """End the token this request carries (a portal or application token)."""
    grant = grant_of(request)
    if grant.is_admin or grant.token_id is None:
        raise Forbidden("admin tokens do not log out: revoke them with `tidings token revoke`")
    await store_of(request).end_token(grant.token_id, now_ms())
    _authenticator(request).forget(lambda token: token.id == grant.token_id)
    return Response(status_code=204)


async def _application(request: Request, app_id: str, new: ApplicationIn | None) -> Application:
    store = store_of(request)
    found = await store.get_application(app_id)
    if found is not None or new is None:
        return visible(request, app_id, found)
    app = new_app(new)
    app.uid = new.uid or app_id
    check_uid(app.uid)
    return await store.create_application(app)


def _authenticator(request: Request) -> Authenticator:
    authenticator = services_of(request.app).authenticator
    return authenticator
