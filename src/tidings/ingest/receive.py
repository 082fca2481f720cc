"""Receiving one inbound request: verify, keep durably (once), answer.

The HTTP layer finds the source by its URL token (kept in memory by `SourceCache`,
re-checked when the event is committed) and reads the body under the cap; `Inbox`
does the rest. A verified event is committed as a message of the source's
internal application, with its headers, before the sender gets its 2xx; its forward
targets are that application's endpoints, so the worker delivers it with the same
retries, attempt records and replay as any message. A repeat of a delivery id
within 24 h is acknowledged but kept (and forwarded) only once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict, NotFound, StorageUnavailable
from tidings.domain.models import InboundEvent, Message, Rejection, Source
from tidings.ingest.source_cache import KnownSource, SourceCache
from tidings.ingest.verify import Headers, InboundRequest, VerificationFailed, Verified
from tidings.storage.ports import ApplicationChanged, Idempotency, SourceChanged, Store
from tidings.telemetry import metrics
from tidings.telemetry.logs import get_logger
from tidings.telemetry.tally import TALLY

log = get_logger(__name__)

# Rejections kept per source: enough to diagnose, bounded under a flood.
REJECTIONS_KEPT = 100
# Headers that carry credentials are never stored; the rest are kept, bounded.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-gitlab-token",
    }
)
MAX_HEADERS = 64
MAX_HEADER_VALUE = 2048
# Longer delivery ids (only an unverified sender could choose one) are hashed.
MAX_DELIVERY_ID = 200
DEDUP_FINGERPRINT = "inbound"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


def _json(status: int, body: dict[str, object]) -> Answer:
    return Answer(status, orjson.dumps(body))


def kept_headers(
    headers: Mapping[str, str], credentials: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The request's headers as kept with its event: never a credential, whether a
    usual one (`SECRET_HEADERS`) or the one the source's verifier reads."""
    pairs = (
        headers.lowered()
        if isinstance(headers, Headers)
        else ((name.lower(), value) for name, value in headers.items())
    )
    kept: dict[str, str] = {}
    for name, value in pairs:
        if name in SECRET_HEADERS or name in credentials or len(kept) >= MAX_HEADERS:
            continue
        kept[name] = value[:MAX_HEADER_VALUE]
    return kept


def repeat_key(known: KnownSource, body: bytes, delivery_id: str | None) -> str | None:
    """What makes an event a repeat of one kept within 24 h. Where the scheme signs
    no time, a delivery id would let anyone who captured a signed request replay it
    under a fresh id (the id is not signed), so there the signed bytes decide: the
    same body is the same event, whatever id it comes with."""
    if getattr(known.verifier, "dedup_on_body", False):
        return "body:" + hashlib.sha256(body).hexdigest()
    return dedup_id(delivery_id)


def query_of(url: str) -> str:
    """The query of a request URL (which carries no fragment), as urlsplit finds it."""
    return url.partition("?")[2].partition("#")[0]


def dedup_id(delivery_id: str | None) -> str | None:
    if not delivery_id:
        return None
    if len(delivery_id) <= MAX_DELIVERY_ID:
        return delivery_id
    return "sha256:" + hashlib.sha256(delivery_id.encode("utf-8", "surrogatepass")).hexdigest()


class _ReadAgain(Exception):
    """A source kept in memory refused a request: refuse only once it is read afresh."""


class Inbox:
    def __init__(self, store: Store, notify: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._notify = notify
        self._sources = SourceCache(store)

    async def find(self, token: str) -> KnownSource | None:
        return await self._sources.find(token)

    async def reject(self, source: Source, status: int, reason: str, detail: str) -> Answer:
        """Record why a request was refused (best effort) and say so, briefly."""
        rejection = Rejection(
            source_key=source.key,
            status_code=status,
            reason=reason,
            detail=detail[:500],
            received_at=now_ms(),
        )
        try:
            await self._store.add_rejection(rejection, REJECTIONS_KEPT)
        except Exception:  # unavailable, or the source was deleted a moment ago
            log.warning("could not record a rejection", source_id=source.id, exc_info=True)
        _received(source, "unverified" if status == 401 else "misconfigured", reason=reason)
        text = f"{reason}: {detail}" if detail else reason
        return _json(
            status, {"code": "verification_failed" if status == 401 else "rejected", "detail": text}
        )

    async def accept(self, token: str, known: KnownSource, request: InboundRequest) -> Answer:
        """Verify and keep `request`, sent to `token`'s URL, as `known` says to. If
        `known` came from memory and refuses the request, or the source changed
        since it was read, the source is read again and the request verified
        afresh, once; a source changing under it again answers 503 (retry)."""
        try:
            return await self._accept(known, request)
        except (SourceChanged, ApplicationChanged, _ReadAgain):
            self._sources.forget(token)
        fresh = await self._sources.find(token)
        if fresh is None:
            raise NotFound("no source has this ingest URL")
        try:
            return await self._accept(fresh, request)
        except (SourceChanged, ApplicationChanged):
            self._sources.forget(token)
            raise StorageUnavailable("the source changed while this request was received") from None

    async def _accept(self, known: KnownSource, request: InboundRequest) -> Answer:
        verified = await self._verify(known, request)
        if isinstance(verified, Answer):
            return verified
        if verified.handshake is not None:
            _received(known.source, "handshake")
            status, body, content_type = verified.handshake
            return Answer(status, body, content_type)
        return await self._keep(known, request, verified)

    async def _verify(self, known: KnownSource, request: InboundRequest) -> Verified | Answer:
        source = known.source
        if known.verifier is None:  # a stored config this release no longer accepts
            if known.kept:
                raise _ReadAgain
            log.error("source has an unusable config", source_id=source.id, problem=known.problem)
            return await self.reject(source, 503, "source misconfigured", known.problem)
        try:
            return known.verifier.verify(request)
        except VerificationFailed as exc:
            if known.kept:
                raise _ReadAgain from None
            return await self.reject(source, 401, exc.reason, exc.detail)
        except Exception:  # a verifier bug must still not answer 500
            log.exception("verifier failed", source_id=source.id)
            return await self.reject(source, 401, "malformed request", "")

    async def _keep(
        self, known: KnownSource, request: InboundRequest, verified: Verified
    ) -> Answer:
        source, app = known.source, known.app
        delivery_id = repeat_key(known, request.body, verified.delivery_id)
        now = now_ms()
        message = Message(
            id=ids.new_id(ids.MESSAGE),
            app_key=app.key,
            event_type=source.type,
            payload=request.body,
            event_id=delivery_id,
            created_at=now,
        )
        credentials: frozenset[str] = getattr(known.verifier, "credential_headers", frozenset())
        headers = kept_headers(request.headers, credentials)
        inbound = InboundEvent(
            msg_key=0,
            source_key=source.key,
            headers=headers,
            delivery_id=verified.delivery_id,
            received_at=now,
            query=query_of(request.url),
        )
        idempotency = (
            Idempotency(f"delivery:{delivery_id}", DEDUP_FINGERPRINT) if delivery_id else None
        )
        try:
            created = await self._store.create_inbound(source, app, message, inbound, idempotency)
        except Conflict:  # the same delivery id, kept by a concurrent request
            _received(source, "duplicate")
            return _json(200, {"duplicate": True})
        if created.created and created.deliveries:
            self._notify()
        verdict = "accepted" if created.created else "duplicate"
        _received(source, verdict, msg_id=created.message.id, actions=created.deliveries)
        return _json(200, {"id": created.message.id, "duplicate": not created.created})


def _received(source: Source, verdict: str, **fields: object) -> None:
    """Count and log one request at a source's URL by its verdict: accepted,
    duplicate, handshake (a provider's URL check), unverified or misconfigured."""
    TALLY.count(metrics.INBOUND_RECEIVED, (source.type, verdict))
    log.info("inbound", source_id=source.id, source_type=source.type, verdict=verdict, **fields)
