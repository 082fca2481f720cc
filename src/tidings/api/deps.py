"""Request-scoped lookups shared by the resource modules."""

from __future__ import annotations

from fastapi import Request

from tidings.domain.errors import NotFound
from tidings.domain.models import Application
from tidings.storage.base import Store


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def application(request: Request, app_id: str) -> Application:
    """The application named in the path, by id or uid, or 404."""
    found = await store_of(request).get_application(app_id)
    if found is None:
        raise NotFound(f"application {app_id!r} not found")
    return found
