"""Performing deliveries of sources' events: actions, and faithful forwards.

The worker hands this the deliveries of the kinds ACTION and FORWARD (decided at
the claim: domain/internal.py). An ACTION delivery runs that action of the worker's
config file with the event as it arrived. A FORWARD goes out as HTTP like any
delivery, but with the original content type and the original headers the source
names in `forwardHeaders`. Plain HTTP deliveries never come here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from tidings.domain.internal import DeliveryKind, parse_action_url, source_of_app
from tidings.domain.models import ClaimedDelivery, InboundEvent, Source
from tidings.domain.outcomes import Outcome
from tidings.ingest.actions.base import DID_NOT_FINISH, Action, did_not_finish
from tidings.ingest.actions.event import InboundWebhook
from tidings.ingest.config_file import FileConfig
from tidings.ingest.sources import forward_headers
from tidings.storage.ports import Store
from tidings.telemetry import metrics
from tidings.telemetry.logs import get_logger
from tidings.telemetry.tally import TALLY

log = get_logger("tidings.actions")

SendHttp = Callable[[ClaimedDelivery], Awaitable[Outcome]]


class SourcePerformer:
    def __init__(self, store: Store, config: Callable[[], FileConfig | None]) -> None:
        self._store = store
        self._config = config

    def _action(self, delivery: ClaimedDelivery) -> Action | None:
        target = parse_action_url(delivery.url)
        config = self._config()
        return config.action(*target) if target and config else None

    def available(self, delivery: ClaimedDelivery) -> bool:
        """False for an action this worker's config file does not declare: another
        worker (or this one, after a reload) may, so the delivery is handed back
        rather than failed."""
        return self._action(delivery) is not None

    def concurrency_cap(self, delivery: ClaimedDelivery) -> int | None:
        action = self._action(delivery)
        return action.limits.cap if action else None

    async def perform(self, delivery: ClaimedDelivery, send_http: SendHttp) -> Outcome:
        try:
            source, inbound = await self._context(delivery)
        except Exception as exc:  # the database is briefly away: a retryable failure
            return did_not_finish(f"could not load the event: {exc}", time.monotonic())
        if delivery.kind is DeliveryKind.FORWARD:
            _carry_original_headers(delivery, source, inbound)
            return _ran("forward", delivery, await send_http(delivery))
        action = self._action(delivery)
        if action is None:
            return did_not_finish("no such action in this worker's config file", time.monotonic())
        outcome = await action.perform(_event(delivery, source, inbound))
        return _ran(action.kind, delivery, outcome, action=action.name)

    async def _context(
        self, delivery: ClaimedDelivery
    ) -> tuple[Source | None, InboundEvent | None]:
        source = await self._store.get_source(_source_id(delivery))
        return source, await self._store.get_inbound(delivery.msg_key)


def _ran(kind: str, delivery: ClaimedDelivery, outcome: Outcome, **fields: object) -> Outcome:
    """Count and log one run of an action (or one forward): succeeded, failed (it
    finished and failed) or unfinished (it timed out, could not start, no answer)."""
    if outcome.succeeded:
        result = "succeeded"
    else:
        result = "unfinished" if outcome.status_code == DID_NOT_FINISH else "failed"
    TALLY.count(metrics.ACTION_RUNS, (kind, result))
    log.info(
        "action run",
        kind=kind,
        **fields,
        msg_id=delivery.msg_id,
        source_id=_source_id(delivery),
        attempt=delivery.attempts_made + 1,
        outcome=result,
        status=outcome.status_code,
        duration_ms=outcome.duration_ms,
        error=outcome.error,
    )
    return outcome


def _source_id(delivery: ClaimedDelivery) -> str:
    """The source whose internal application the delivery belongs to."""
    return source_of_app(delivery.app_uid) or ""


def _carry_original_headers(
    delivery: ClaimedDelivery, source: Source | None, inbound: InboundEvent | None
) -> None:
    if inbound is None:
        return
    delivery.content_type = inbound.headers.get("content-type") or delivery.content_type
    passed = forward_headers(source) if source else ()
    carried = {name: inbound.headers[name] for name in passed if name in inbound.headers}
    # The endpoint's own configured headers win over the original's.
    delivery.headers = {**carried, **delivery.headers}


def _event(
    delivery: ClaimedDelivery, source: Source | None, inbound: InboundEvent | None
) -> InboundWebhook:
    return InboundWebhook(
        id=delivery.msg_id,
        source_id=source.id if source else _source_id(delivery),
        source_uid=source.uid if source else None,
        source_type=source.type if source else "",
        body=delivery.payload,
        headers=dict(inbound.headers) if inbound else {},
        query=inbound.query if inbound else "",
        delivery_id=inbound.delivery_id if inbound else None,
        received_at=inbound.received_at if inbound else 0,
        attempt=delivery.attempts_made + 1,
    )
