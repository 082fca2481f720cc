"""GET /ingest/api/v1/source/{source_id}/event: a source's kept events, as received.

For tools that follow a source live (`tidings listen`): each event comes with the
exact bytes received (base64), its headers (without credentials) and its query
string, oldest first after an opaque iterator. `iterator=latest` starts from now;
`wait` long-polls, re-checking the store every `POLL_INTERVAL` seconds, holding no
database connection in between, until an event arrives or the time is up.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request

from tidings.api.base import ApiModel, ListResponse, timestamp
from tidings.api.deps import store_of
from tidings.api.services import services_of
from tidings.api.sources import PREFIX, source_of
from tidings.domain.errors import InvalidInput, NotFound
from tidings.domain.internal import source_app_uid
from tidings.domain.models import InboundEvent, Message, MessageFilter, Source
from tidings.storage import pagination

router = APIRouter(prefix=PREFIX, tags=["ingest_source"])

LATEST = "latest"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_WAIT_SECONDS = 30.0
POLL_INTERVAL = 0.15
# A page stops early once its bodies pass this many bytes (it always holds one event).
PAGE_BYTES = 8 * 1024 * 1024


class SourceEventOut(ApiModel):
    id: str
    received_at: datetime
    delivery_id: str | None
    headers: dict[str, str]
    query: str
    body: str


def event_out(event: InboundEvent, message: Message) -> SourceEventOut:
    return SourceEventOut(
        id=message.id,
        received_at=timestamp(event.received_at),
        delivery_id=event.delivery_id,
        headers=event.headers,
        query=event.query,
        body=base64.b64encode(message.payload).decode("ascii"),
    )


def _after_key(iterator: str | None) -> int:
    cursor = pagination.decode(iterator)
    if not cursor.forward:
        raise InvalidInput(
            "iterator is not one this server returned", field="iterator", location="query"
        )
    return cursor.after_key or 0


async def _newest_key(request: Request, source: Source) -> int:
    """The key of the source's newest event, 0 when it has none."""
    store = store_of(request)
    app = await store.get_application(source_app_uid(source.id))
    if app is None:  # deleted since it was found
        raise NotFound(f"source {source.id!r} not found")
    newest = await store.list_messages(app, MessageFilter(limit=1))
    return newest.items[0].key if newest.items else 0


async def _poll(
    request: Request, source: Source, after: int, fetch: int, wait: float
) -> list[tuple[InboundEvent, Message]]:
    """Events after `after`, waiting up to `wait` seconds for the first one."""
    store = store_of(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        found = await store.list_inbound(source, after, fetch)
        remaining = deadline - loop.time()
        # A stopping server answers long polls at once rather than holding its exit.
        stopping = services_of(request.app).stopping
        if found or remaining <= 0 or stopping.is_set() or await request.is_disconnected():
            return found
        await asyncio.sleep(min(POLL_INTERVAL, remaining))


def _page(found: list[tuple[InboundEvent, Message]], limit: int) -> tuple[int, bool]:
    """How many of `found` (fetched with one extra) fit a page, and whether that is all."""
    size, count = 0, 0
    for _, message in found[:limit]:
        if count and size + len(message.payload) > PAGE_BYTES:
            return count, False
        size += len(message.payload)
        count += 1
    return count, len(found) <= limit


@router.get("/{source_id}/event", response_model=ListResponse[SourceEventOut])
async def list_source_events(
    request: Request,
    source: Source = Depends(source_of),
    iterator: str | None = Query(
        default=None,
        description="Continue after this iterator; `latest` returns no events and the "
        "newest event's iterator, to follow only what arrives from now on.",
    ),
    limit: int = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    wait: float = Query(
        default=0.0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds to wait for an event when there is none yet (long poll).",
    ),
) -> ListResponse[SourceEventOut]:
    """The source's verified events, oldest first, each with the exact body received
    (base64), its headers (without credentials) and query string."""
    if iterator == LATEST:
        newest = pagination.encode(await _newest_key(request, source))
        return ListResponse[SourceEventOut](data=[], iterator=newest, done=True)
    after = _after_key(iterator)
    found = await _poll(request, source, after, limit + 1, wait)
    count, done = _page(found, limit)
    kept = found[:count]
    last = kept[-1][0].msg_key if kept else after
    return ListResponse[SourceEventOut](
        data=[event_out(event, message) for event, message in kept],
        iterator=pagination.encode(last),
        done=done,
    )
