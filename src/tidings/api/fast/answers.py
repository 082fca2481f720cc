"""What the lean ASGI paths in front of FastAPI share: answering, and answering
errors exactly as the app's own exception handlers do (see `errors.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

JSON = b"application/json"


async def send_body(send: Send, status: int, body: bytes, content_type: bytes = JSON) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", content_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    api: FastAPI, scope: Scope, receive: Receive, send: Send, exc: Exception
) -> None:
    """Answer `exc` with the handler the app registered for its kind; for anything
    unexpected that is the 500 handler, as Starlette's ServerErrorMiddleware does."""
    handler: Any = None
    for kind in type(exc).__mro__:
        handler = api.exception_handlers.get(kind)
        if handler is not None:
            break
    response = await handler(Request(scope, receive), exc)
    await response(scope, receive, send)
