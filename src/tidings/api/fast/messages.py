"""A lean path for `POST /api/v1/app/{app_id}/msg`, the one route under load.

The FastAPI route in `messages.py` stays the reference (and the OpenAPI schema);
this ASGI middleware answers the common case of that same request without the
framework's generic machinery: it validates the raw body with
`MessageIn.model_validate_json`, checks the token against what `Authenticator` already knows,
keeps applications in memory (`ApplicationCache`), and writes the 202 with orjson.
Whatever it does not handle itself (an unknown token, invalid input, an unknown
application, an oversized body, any unusual header or query) goes to the FastAPI
route unchanged, with the body it read replayed, before anything is written: error
answers therefore come from one place and stay exactly as they were.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidings.api.fast.answers import send_body, send_error
from tidings.api.message_creation import accept_message, encode_payload, message_json
from tidings.api.messages import MessageIn
from tidings.api.request_metrics import ROUTE
from tidings.api.services import services_of
from tidings.domain.access import Grant, Need
from tidings.domain.errors import PayloadTooLarge, TidingsError
from tidings.domain.models import Application
from tidings.storage.ports import ApplicationChanged, CreatedMessage

_PATH = re.compile(r"/api/v1/app/([^/]+)/msg")
ROUTE_TEMPLATE = "/api/v1/app/{app_id}/msg"
_QUERIES = {b"": True, b"with_content=true": True, b"with_content=false": False}
_WANTED = (
    b"authorization",
    b"content-type",
    b"content-length",
    b"idempotency-key",
    b"traceparent",
)
# FastAPI's limit on the idempotency-key and traceparent headers (`Header(max_length=256)`).
_MAX_KEY = 256


class _Pass(Exception):
    """The lean path does not handle this request: the FastAPI route does."""


class MessageRoute:
    """In front of the whole FastAPI app (see `app.TidingsApi`): `app` is the app's
    own entry point, which gets every request this does not answer."""

    def __init__(self, app: ASGIApp, api: FastAPI, max_body: int) -> None:
        self._app = app
        self._api = api
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _PATH.fullmatch(scope["path"])
        if match is None:
            await self._app(scope, receive, send)
            return
        scope[ROUTE] = ROUTE_TEMPLATE
        received: list[Message] = []
        try:
            answer = await self._lean(scope, receive, match[1], received)
        except TidingsError as exc:
            await send_error(self._api, scope, receive, send, exc)
            return
        except Exception as exc:
            # What the app's ServerErrorMiddleware does: the 500 handler, then re-raise.
            await send_error(self._api, scope, receive, send, exc)
            raise
        if answer is None:
            await self._app(scope, _replay(received, receive), send)
        else:
            await send_body(send, 202, answer)

    async def _lean(
        self, scope: Scope, receive: Receive, app_id: str, received: list[Message]
    ) -> bytes | None:
        """The 202 body, or None for the route to answer; a TidingsError is answered
        as the app's handler answers it."""
        try:
            headers = _headers(scope)
            with_content = _with_content(scope)
            grant = self._grant(headers.get(b"authorization"))
            raw_body = await self._read(headers, receive, received)
            body, payload = self._parse(raw_body)
            app = await self._application(app_id)
            if not grant.sees(app.key):
                raise _Pass  # the route answers 404
            key = headers.get(b"idempotency-key")
            idempotency_key = key.decode("latin-1") if key else None
            trace = headers.get(b"traceparent")
            traceparent = trace.decode("latin-1") if trace else None
            created = await self._accept(
                app_id, app, body, payload, raw_body, idempotency_key, traceparent
            )
        except _Pass:
            return None
        return message_json(created, with_content)

    def _grant(self, authorization: bytes | None) -> Grant:
        """A grant this process knows that may send messages; otherwise the route
        decides (it reads the database, and answers 401 or 403)."""
        authenticator = services_of(self._api).authenticator
        grant = (
            None
            if authorization is None
            else authenticator.known_grant(authorization.decode("latin-1"))
        )
        if grant is None or not grant.may(Need.WRITE):
            raise _Pass
        return grant

    async def _read(
        self, headers: dict[bytes, bytes], receive: Receive, received: list[Message]
    ) -> bytes:
        """The whole body, or _Pass if it is over the limit (BodyLimit answers 413)."""
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_body):
            raise _Pass
        size, more = 0, True
        while more:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                raise _Pass
            size += len(message.get("body", b""))
            if size > self._max_body:
                raise _Pass
            more = message.get("more_body", False)
        return b"".join(message.get("body", b"") for message in received)

    def _parse(self, raw_body: bytes) -> tuple[MessageIn, bytes]:
        """Parsed and validated in one step. (Not `orjson.loads` first, though faster:
        it reads integers over 64 bits as floats, silently changing the payload.)"""
        try:
            body = MessageIn.model_validate_json(raw_body)
            return body, encode_payload(
                body.payload, services_of(self._api).settings.max_payload_bytes
            )
        except (ValidationError, PayloadTooLarge):
            raise _Pass from None

    async def _application(self, app_id: str) -> Application:
        applications = services_of(self._api).applications
        found = await applications.find(app_id)
        if found is None:
            raise _Pass  # 404, or created from the body's `application`
        return found

    async def _accept(
        self,
        app_id: str,
        app: Application,
        body: MessageIn,
        payload: bytes,
        raw_body: bytes,
        idempotency_key: str | None,
        traceparent: str | None,
    ) -> CreatedMessage:
        state = services_of(self._api)
        try:
            return await accept_message(
                state, app, body, payload, raw_body, idempotency_key, traceparent
            )
        except ApplicationChanged:
            # Nothing was written: the route reads the application afresh.
            state.applications.forget(app_id)
            raise _Pass from None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _WANTED:
            if name in found:
                raise _Pass
            found[name] = value
    content_type = found.get(b"content-type", b"").partition(b";")[0].strip().lower()
    if content_type != b"application/json":
        raise _Pass
    if len(found.get(b"idempotency-key", b"")) > _MAX_KEY:
        raise _Pass
    if len(found.get(b"traceparent", b"")) > _MAX_KEY:
        raise _Pass
    return found


def _with_content(scope: Scope) -> bool:
    shown = _QUERIES.get(scope.get("query_string", b""))
    if shown is None:
        raise _Pass
    return shown


def _replay(received: list[Message], receive: Receive) -> Receive:
    """A receive channel that first gives back what the lean path already read."""
    pending = list(received)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
