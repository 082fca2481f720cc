"""The ASGI application: routes, auth, error mapping and limits, around one Store."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tidings import __version__
from tidings.api import (
    applications,
    attempts,
    authentication,
    docs,
    endpoints,
    errors,
    event_types,
    health,
    messages,
    probes,
    recovery,
    source_events,
    sources,
    spec_extras,
)
from tidings.api.app_cache import ApplicationCache
from tidings.api.auth import Authenticator, require_token
from tidings.api.fast.inbound import InboundRoute
from tidings.api.fast.messages import MessageRoute
from tidings.api.limits import BodyLimit
from tidings.api.message_gate import MessageGate
from tidings.api.probes import Check, Probes
from tidings.api.request_metrics import RequestMetrics
from tidings.api.services import Services
from tidings.config import Settings
from tidings.delivery.operational import OperationalWebhooks
from tidings.ingest.receive import Inbox
from tidings.storage.ports import Store

# Room for the envelope (eventType, channels, tags...) around a maximal payload.
ENVELOPE_ALLOWANCE = 64 * 1024


class TidingsApi(FastAPI):
    """FastAPI, with the two routes under load answered first by lean ASGI paths in
    front of the framework's own per-request work: receiving at an ingest URL
    (`InboundRoute`) and sending a message (`MessageRoute`). Whatever they do not
    answer goes on to FastAPI unchanged."""

    lean: ASGIApp | None = None
    services: Services
    probes: Probes

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = spec_extras.complete(super().openapi())
        return self.openapi_schema

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.lean or self.framework)(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(
    store: Store,
    settings: Settings,
    on_new_deliveries: Callable[[], None] = lambda: None,
    operational: OperationalWebhooks | None = None,
    readiness: Mapping[str, Check] | None = None,
) -> TidingsApi:
    """Build the API over an opened store. `on_new_deliveries` wakes an in-process
    worker; `readiness` adds checks to /readyz (that worker's claiming)."""
    app = TidingsApi(
        title="Tidings",
        version=__version__,
        description="A self-hosted webhook platform with a Svix-compatible API.",
        # Served by docs.py: behind a token, and without a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.services = Services(
        store=store,
        settings=settings,
        authenticator=Authenticator(store, settings.admin_token),
        on_new_deliveries=on_new_deliveries,
        message_gate=MessageGate(),
        applications=ApplicationCache(store),
        operational=operational or OperationalWebhooks(store, on_new_deliveries),
        inbox=Inbox(store, on_new_deliveries),
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(probes.router)
    app.include_router(docs.router)
    app.include_router(docs.assets)
    protected = [Depends(require_token)]
    routers = [
        applications.router,
        event_types.router,
        *endpoints.build_routers(),
        recovery.router,
        messages.router,
        attempts.router,
        *sources.build_routers(),
        source_events.router,
        authentication.router,
    ]
    for router in routers:
        app.include_router(router, dependencies=protected)
    max_body = settings.max_payload_bytes + ENVELOPE_ALLOWANCE
    app.add_middleware(BodyLimit, max_bytes=max_body)
    # Senders of inbound webhooks authenticate by signature, not token (inbound.py).
    lean = InboundRoute(MessageRoute(app.framework, api=app, max_body=max_body), api=app)
    app.lean = RequestMetrics(lean, lambda: app.routes)
    app.probes = Probes(
        store,
        app.services.authenticator,
        settings.metrics_public,
        app.services.stopping,
        dict(readiness or {}),
    )
    return app
