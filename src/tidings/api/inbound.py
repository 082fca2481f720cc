"""POST /ingest/in/{token}: where third parties send webhooks to a source.

No bearer token: the URL's token picks the source and the sender proves itself by
its signature, checked over the exact bytes received. Only POST is routed (others
get 405); an unknown token gets 404; a body over the payload limit gets 413.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from tidings.api.sources import public_base
from tidings.domain.errors import NotFound, PayloadTooLarge
from tidings.ingest.receive import Inbox
from tidings.ingest.sources import INGEST_PATH
from tidings.ingest.verify import Headers, InboundRequest

router = APIRouter(tags=["ingest"])


@router.post(INGEST_PATH + "/{token}", include_in_schema=False)
async def receive(request: Request, token: str) -> Response:
    inbox: Inbox = request.app.state.inbox
    source = await inbox.find(token)
    if source is None:
        raise NotFound("no source has this ingest URL")
    limit: int = request.app.state.settings.max_payload_bytes
    body = await _read_capped(request, limit)
    if body is None:
        detail = f"the limit is {limit} bytes"
        await inbox.reject(source, 413, "body too large", detail)
        raise PayloadTooLarge(f"body too large: {detail}")
    url = public_base(request) + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    headers = Headers(request.headers.items())
    answer = await inbox.accept(source, InboundRequest("POST", url, headers, body, time.time()))
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
