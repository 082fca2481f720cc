"""/metrics, /livez and /readyz: for Prometheus and for orchestrators' probes.

The same routes answer on the API and on a worker's own port (serve/probe_port.py).
/metrics needs the admin token unless the operator makes it public; the probes
need none, and say no more than which check failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tidings.api.auth import Authenticator
from tidings.api.errors import error_body
from tidings.domain.clock import now_ms
from tidings.domain.errors import Unauthorized
from tidings.storage.ports import Store
from tidings.telemetry import metrics
from tidings.telemetry.logs import get_logger

log = get_logger(__name__)

# A scrape storm reads the queue's size at most this often per process.
BACKLOG_SECONDS = 2.0
# How long a readiness check may take before it counts as failed.
CHECK_SECONDS = 2.0

# One readiness check: None when it passes, or a short reason why not.
Check = Callable[[], Awaitable[str | None]]


@dataclass
class Probes:
    store: Store
    authenticator: Authenticator
    metrics_public: bool
    stopping: asyncio.Event
    # Checks beyond the database's: a worker's claiming loop, for one.
    checks: dict[str, Check] = field(default_factory=dict)
    _backlog: metrics.BacklogGauges | None = None
    _backlog_at: float = float("-inf")

    async def backlog(self) -> metrics.BacklogGauges | None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._backlog_at >= BACKLOG_SECONDS:
            try:
                read = await self.store.backlog()
            except Exception as exc:  # the rest of the metrics are still worth serving
                log.warning("could not read the backlog for /metrics", error=str(exc))
                return None
            self._backlog = metrics.BacklogGauges(read, now_ms())
            self._backlog_at = loop.time()
        return self._backlog

    async def failures(self) -> dict[str, str]:
        """Each failing check, with its reason."""
        checks: dict[str, Check] = {
            "database": self._database,
            "migrations": self._migrations,
            **self.checks,
        }
        failed = {}
        for name, check in checks.items():
            try:
                reason = await asyncio.wait_for(check(), CHECK_SECONDS)
            except TimeoutError:
                reason = f"no answer within {CHECK_SECONDS:g} s"
            except Exception as exc:
                reason = type(exc).__name__
            if reason is not None:
                failed[name] = reason
        return failed

    async def _database(self) -> str | None:
        await self.store.ping()
        return None

    async def _migrations(self) -> str | None:
        status = await self.store.migration_status()
        return None if status.current else "not applied: " + ", ".join(status.pending)


def probes_of(request: Request) -> Probes:
    return cast(Probes, cast(Any, request.app).probes)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics_route(request: Request) -> Response:
    probes = probes_of(request)
    if not probes.metrics_public:
        # Answered here rather than by the API's error handlers: a worker's port
        # serves this route without them.
        try:
            grant = await probes.authenticator.grant(request.headers.get("authorization"))
        except Unauthorized as exc:
            return JSONResponse(error_body(exc.code, str(exc)), status_code=401)
        if not grant.is_admin:
            refusal = error_body("forbidden", "/metrics needs the admin token")
            return JSONResponse(refusal, status_code=403)
    exposition = metrics.exposition(await probes.backlog())
    return Response(exposition, media_type=metrics.CONTENT_TYPE)


@router.get("/livez")
async def livez() -> JSONResponse:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "live"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready to work: the database answers, its schema is current, and a worker's
    claiming loop turns; not while the process is stopping."""
    probes = probes_of(request)
    failed = await probes.failures()
    if probes.stopping.is_set():
        failed["process"] = "stopping"
    if failed:
        return JSONResponse({"status": "unready", "failed": failed}, status_code=503)
    return JSONResponse({"status": "ready"})
