"""/ingest/in/{token}: where third parties send webhooks to a source.

No bearer token: the URL's token picks the source and the sender proves itself by
its signature, checked over the exact bytes received. Only POST is accepted
(others get 405); an unknown token gets 404; a body over the payload limit 413.

This is the route senders flood, so it is a plain ASGI app in front of FastAPI
(see `app.TidingsApi`) rather than a framework route: no dependency injection, no
request object per call. It is not in the OpenAPI schema, which describes the
management API. Errors are answered by the app's own exception handlers, so they
have the same shape as everywhere else.
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from tidings.api.fast.answers import send_body, send_error
from tidings.api.request_metrics import ROUTE
from tidings.api.services import services_of
from tidings.config import Settings
from tidings.domain.errors import NotFound, PayloadTooLarge, TidingsError
from tidings.ingest.sources import INGEST_PATH
from tidings.ingest.verify import Headers, InboundRequest

_PREFIX = INGEST_PATH + "/"
# How metrics name the route: never the token, a secret of the source's URL.
ROUTE_TEMPLATE = INGEST_PATH + "/{token}"


class InboundRoute:
    """`app` gets every request that is not for an ingest URL."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self._app = app
        self._api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _token(scope)
        if token is None:
            await self._app(scope, receive, send)
            return
        scope[ROUTE] = ROUTE_TEMPLATE
        try:
            status, body, content_type = await self._receive(scope, receive, token)
        except (TidingsError, HTTPException) as exc:
            await send_error(self._api, scope, receive, send, exc)
            return
        except _Disconnected:  # nobody is left to answer; nothing was kept
            return
        except Exception as exc:
            # What the app's ServerErrorMiddleware does: the 500 handler, then re-raise.
            await send_error(self._api, scope, receive, send, exc)
            raise
        await send_body(send, status, body, content_type.encode("latin-1"))

    async def _receive(self, scope: Scope, receive: Receive, token: str) -> tuple[int, bytes, str]:
        if scope["method"] != "POST":
            raise HTTPException(405, headers={"Allow": "POST"})
        inbox = services_of(self._api).inbox
        known = await inbox.find(token)
        if known is None:
            raise NotFound("no source has this ingest URL")
        settings = services_of(self._api).settings
        limit = settings.max_payload_bytes
        headers = Headers.from_asgi(scope["headers"])
        body = await _read_capped(headers, receive, limit)
        if body is None:
            detail = f"the limit is {limit} bytes"
            await inbox.reject(known.source, 413, "body too large", detail)
            raise PayloadTooLarge(f"body too large: {detail}")
        url = _public_url(scope, settings, headers)
        request = InboundRequest("POST", url, headers, body, time.time())
        answer = await inbox.accept(token, known, request)
        return answer.status, answer.body, answer.content_type


def _token(scope: Scope) -> str | None:
    """The ingest token of an ingest URL's path, else None."""
    if scope["type"] != "http":
        return None
    path: str = scope["path"]
    if not path.startswith(_PREFIX):
        return None
    # One trailing slash is tolerated (FastAPI's route used to redirect it).
    token = path[len(_PREFIX) :].removesuffix("/")
    return token if token and "/" not in token else None


def _public_url(scope: Scope, settings: Settings, headers: Headers) -> str:
    """The URL the sender called (some schemes sign it): the operator's public URL
    if set, else this request's own scheme and Host; then the path exactly as sent
    (not percent-decoded) and the query."""
    origin = settings.public_url.rstrip("/") or _origin(scope, headers)
    raw_path: bytes | None = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    query: bytes = scope.get("query_string", b"")
    return f"{origin}{path}?{query.decode('latin-1')}" if query else origin + path


def _origin(scope: Scope, headers: Headers) -> str:
    scheme: str = scope.get("scheme", "http")
    host = headers.get("host")
    if not host:  # HTTP/1.0 without Host: the address the request reached
        address, port = scope.get("server") or ("localhost", None)
        address = f"[{address}]" if ":" in address else address
        default = {"http": 80, "https": 443}.get(scheme)
        host = address if port in (None, default) else f"{address}:{port}"
    return f"{scheme}://{host}"


async def _read_capped(headers: Headers, receive: Receive, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` bytes."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    received, more = 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the sender went away
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


class _Disconnected(Exception):
    """The client closed the connection before the body was complete."""
