"""Request-scoped lookups shared by the resource modules."""

from __future__ import annotations

from fastapi import Path, Request

from tidings.api.auth import GRANT
from tidings.api.services import services_of
from tidings.domain.access import Grant
from tidings.domain.errors import NotFound
from tidings.domain.internal import is_internal_uid
from tidings.domain.models import Application
from tidings.storage.ports import Store

# Set on a request by `operational_owner`: the application that owns the request's
# objects is then Tidings' own, whatever the path says.
_OWNER = "tidings.owner"


def store_of(request: Request) -> Store:
    return services_of(request.app).store


async def app_id(app_id: str = Path(description="The application's id or uid.")) -> str:
    """Declares the `{app_id}` path parameter for routers whose routes use `application`.
    (Async on purpose: FastAPI runs plain functions in a thread pool, per request.)"""
    return app_id


async def application(request: Request) -> Application:
    """The application named in the path (by id or uid), or Tidings' own for
    operational webhook and source routes; 404 when there is none."""
    owner: Application | None = request.scope.get(_OWNER)
    if owner is not None:
        return owner
    wanted = request.path_params["app_id"]
    return visible(request, wanted, await store_of(request).get_application(wanted))


def visible(request: Request, wanted: str, found: Application | None) -> Application:
    """`found`, unless it is none, internal, or another application than the
    request's token is bound to: all three are the same 404, so that a token
    learns nothing about applications that are not its own."""
    grant: Grant | None = request.scope.get(GRANT)
    if found is None or is_internal_uid(found.uid) or (grant and not grant.sees(found.key)):
        raise NotFound(f"application {wanted!r} not found")
    return found


async def operational_owner(request: Request) -> None:
    set_owner(request, await services_of(request.app).operational.application())


def set_owner(request: Request, owner: Application) -> None:
    """Make `owner`, an internal application, the one this request's objects belong to."""
    request.scope[_OWNER] = owner


def is_operational(request: Request) -> bool:
    return request.scope.get(_OWNER) is not None
