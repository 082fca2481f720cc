"""The ASGI application: routes, auth, error mapping and limits, around one Store."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, FastAPI

from tidings import __version__
from tidings.api import applications, attempts, endpoints, errors, event_types, health, messages
from tidings.api.auth import Authenticator, require_token
from tidings.api.limits import BodyLimit
from tidings.config import Settings
from tidings.storage.base import Store

# Room for the envelope (eventType, channels, tags...) around a maximal payload.
ENVELOPE_ALLOWANCE = 64 * 1024


def create_app(
    store: Store,
    settings: Settings,
    on_new_deliveries: Callable[[], None] = lambda: None,
) -> FastAPI:
    """Build the API over an opened store. `on_new_deliveries` wakes an in-process worker."""
    app = FastAPI(
        title="Tidings",
        version=__version__,
        description="A self-hosted webhook platform with a Svix-compatible API.",
    )
    app.state.store = store
    app.state.settings = settings
    app.state.authenticator = Authenticator(store, settings.admin_token)
    app.state.on_new_deliveries = on_new_deliveries
    errors.install(app)
    app.include_router(health.router)
    protected = [Depends(require_token)]
    for module in (applications, event_types, endpoints, messages, attempts):
        app.include_router(module.router, dependencies=protected)
    app.add_middleware(BodyLimit, max_bytes=settings.max_payload_bytes + ENVELOPE_ALLOWANCE)
    return app
