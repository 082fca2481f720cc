"""A worker's own port: /metrics, /livez and /readyz for a process with no API.

`tidings worker --metrics-port 9100` serves the same routes as the API's
(api/probes.py); /readyz there also says whether the worker's claiming loop turns.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from tidings.api import probes
from tidings.api.auth import Authenticator
from tidings.config import Settings
from tidings.delivery.worker import Worker
from tidings.storage import Store

# However short the lease, a loop that has not turned for this long is stuck.
LEAST_PATIENCE_SECONDS = 5.0


def claiming_check(worker: Worker, settings: Settings) -> probes.Check:
    """Fails while the worker's claiming loop is not turning: not started yet,
    stopped, or stuck in a database call for longer than a third of the lease
    (after which others may take its deliveries)."""
    patience = max(settings.lease_seconds / 3, LEAST_PATIENCE_SECONDS)

    async def check() -> str | None:
        if worker.claiming_stalled(patience):
            return f"the claiming loop has not turned for {patience:g} s"
        return None

    return check


class ProbeApp(FastAPI):
    probes: probes.Probes


def probe_app(
    store: Store, settings: Settings, worker: Worker, stopping: asyncio.Event
) -> ProbeApp:
    app = ProbeApp(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(probes.router)
    app.probes = probes.Probes(
        store,
        Authenticator(store, settings.admin_token),
        settings.metrics_public,
        stopping,
        {"claiming": claiming_check(worker, settings)},
    )
    return app
