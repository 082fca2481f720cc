"""Counts and times every answer of the API by its route template, in front of
everything else (the lean paths included), so that no request goes uncounted.

The template, never the path: `/api/v1/app/{app_id}/msg`, not one series per
application. A request that matched no route counts as `unmatched`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidings.telemetry import metrics
from tidings.telemetry.tally import TALLY

# Where a lean path (fast/) names the route it answered for.
ROUTE = "tidings.route"
UNMATCHED = "unmatched"

# A route's whole path template, and the pattern that tells which one a path took.
Template = tuple[re.Pattern[str], str]


class RequestMetrics:
    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self._app = app
        self._routes = routes
        self._templates: dict[int, list[Template]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        if self._templates is None:  # every route is in place by the first request
            self._templates = templates(self._routes())
        method, route = scope["method"], route_of(scope, self._templates)
        TALLY.count(metrics.HTTP_REQUESTS, (method, route, str(status)))
        TALLY.observe(metrics.HTTP_DURATION, seconds, (method, route))


def route_of(scope: Scope, known: Mapping[int, list[Template]]) -> str:
    named = scope.get(ROUTE)
    if named is not None:
        return str(named)
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    candidates = known.get(id(route))
    if not candidates:
        return str(getattr(route, "path", UNMATCHED))
    if len(candidates) == 1:
        return candidates[0][1]
    path = scope["path"]
    return next((text for pattern, text in candidates if pattern.match(path)), UNMATCHED)


def templates(routes: Sequence[BaseRoute]) -> dict[int, list[Template]]:
    """Each route's whole templates, with the prefixes of the routers it was included
    through: a route object knows only its own router's part, and one route may be
    included under several prefixes (endpoints of applications and of sources)."""
    known: dict[int, list[Template]] = {}
    for context in iter_route_contexts(routes):
        if context.path_format is not None:
            pattern = compile_path(context.path_format)[0]
            known.setdefault(id(context.original_route), []).append((pattern, context.path_format))
    return known
