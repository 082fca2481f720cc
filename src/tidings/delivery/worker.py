"""The delivery worker: claim due deliveries, attempt them, record the outcomes.

One loop claims batches under a lease while attempts run concurrently; outcomes
are buffered and recorded in batches, so the database sees one claim and one
completion write per batch rather than per delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from tidings.delivery import request
from tidings.delivery.guard import AddressPolicy, GuardedResolver
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.models import AttemptResult, ClaimedDelivery, RecordOutcome
from tidings.domain.outcomes import Verdict, classify
from tidings.domain.retry import next_retry
from tidings.storage.base import Store

log = logging.getLogger(__name__)

CLAIM_BATCH = 256
# Idle workers re-check the queue at least this often, for work queued by other
# processes or falling due by schedule.
IDLE_POLL_SECONDS = 0.25
# A receiver that asked us to slow down waits at least this long, even where the
# schedule says to retry at once.
SLOW_DOWN_MINIMUM_SECONDS = 1.0


@dataclass(frozen=True)
class WorkerOptions:
    retry_schedule: Sequence[float]
    request_timeout: float
    concurrency: int
    policy: AddressPolicy
    shutdown_grace: float = 10.0
    lease_seconds: float = 30.0
    disable_after_seconds: float = 5 * 24 * 3600

    @property
    def lease_ms(self) -> int:
        return int(self.lease_seconds * 1000)


# Told about every recorded batch, e.g. to send operational webhooks.
RecordedHook = Callable[[Sequence[AttemptResult], RecordOutcome], Awaitable[None]]


class Worker:
    def __init__(
        self, store: Store, options: WorkerOptions, on_recorded: RecordedHook | None = None
    ) -> None:
        self._store = store
        self._options = options
        self.on_recorded = on_recorded
        self._wakeup = asyncio.Event()
        self._results: list[AttemptResult] = []
        self._results_ready = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], ClaimedDelivery] = {}
        self._slot_freed = asyncio.Event()
        self._rng = random.Random()

    def notify(self) -> None:
        """New work was committed in this process: look now rather than at the next poll."""
        self._wakeup.set()

    async def run(self, stopping: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._options.policy),
            limit=self._options.concurrency,
            ttl_dns_cache=30,
        )
        # trust_env=False: proxy variables must not route deliveries around the guard.
        async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
            helpers = [
                asyncio.create_task(self._flush_forever()),
                asyncio.create_task(self._renew_leases_forever()),
            ]
            try:
                await self._claim_until(stopping, session)
                await self._drain()
            finally:
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
                await self._flush()

    async def _claim_until(self, stopping: asyncio.Event, session: aiohttp.ClientSession) -> None:
        lease_ms = self._options.lease_ms
        while not stopping.is_set():
            free = self._options.concurrency - len(self._in_flight)
            claimed: list[ClaimedDelivery] = []
            if free > 0:
                self._wakeup.clear()
                claimed = await self._claim(min(free, CLAIM_BATCH), lease_ms)
                for delivery in claimed:
                    self._start(session, delivery)
            if free <= 0 or not claimed:
                await self._idle(stopping, full=free <= 0)

    async def _claim(self, limit: int, lease_ms: int) -> list[ClaimedDelivery]:
        try:
            return await self._store.claim_due(limit, lease_ms)
        except Exception as exc:  # the database may be briefly unavailable: retry later
            log.warning("claiming deliveries failed: %s", exc)
            return []

    async def _idle(self, stopping: asyncio.Event, full: bool) -> None:
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stopping.wait())]
        if full:
            self._slot_freed.clear()
            waiters.append(asyncio.ensure_future(self._slot_freed.wait()))
        else:
            waiters.append(asyncio.ensure_future(self._wakeup.wait()))
        timeout = IDLE_POLL_SECONDS if full else await self._sleep_for()
        if not full:
            waiters.append(asyncio.ensure_future(self._store.wait_for_work(timeout)))
        _, pending = await asyncio.wait(waiters, timeout=timeout, return_when="FIRST_COMPLETED")
        for waiter in pending:
            waiter.cancel()

    async def _sleep_for(self) -> float:
        try:
            due = await self._store.next_due_at()
        except Exception:
            return IDLE_POLL_SECONDS
        if due is None:
            return IDLE_POLL_SECONDS
        return min(max((due - now_ms()) / 1000, 0.001), IDLE_POLL_SECONDS)

    def _start(self, session: aiohttp.ClientSession, delivery: ClaimedDelivery) -> None:
        task = asyncio.create_task(self._attempt(session, delivery))
        self._in_flight[task] = delivery
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._slot_freed.set()

    async def _attempt(self, session: aiohttp.ClientSession, delivery: ClaimedDelivery) -> None:
        outcome = await request.send(
            session, delivery, self._options.request_timeout, self._options.policy
        )
        self._results.append(self._result(delivery, outcome))
        self._results_ready.set()

    def _result(self, delivery: ClaimedDelivery, outcome: request.Outcome) -> AttemptResult:
        finished = now_ms()
        verdict = classify(outcome.status_code)
        retry_at = None
        if verdict in (Verdict.FAILED, Verdict.SLOW_DOWN):
            slow = verdict == Verdict.SLOW_DOWN
            decision = next_retry(
                self._options.retry_schedule,
                delivery.attempts_made + 1,
                outcome.retry_after if slow else None,
                self._rng,
                minimum=SLOW_DOWN_MINIMUM_SECONDS if slow else 0.0,
            )
            if decision.retry:
                retry_at = finished + int(decision.delay_seconds * 1000)
        return AttemptResult(
            attempt_id=ids.new_id(ids.ATTEMPT),
            delivery=delivery,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            response=outcome.response,
            duration_ms=outcome.duration_ms,
            error=outcome.error,
            finished_at=finished,
            retry_at=retry_at,
            verdict=verdict,
        )

    async def _flush_forever(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            await self._flush()

    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            disable_after_ms = int(self._options.disable_after_seconds * 1000)
            recorded = await self._store.record_attempts(batch, disable_after_ms)
        except Exception as exc:
            # Unrecorded outcomes are not lost work: the leases expire and the
            # deliveries are attempted again (at-least-once).
            log.error("recording %d attempts failed: %s", len(batch), exc)
            return
        for event in recorded.disabled:
            log.warning("endpoint %s disabled: %s", event.endpoint_id, event.reason)
        if self.on_recorded is not None:
            try:
                await self.on_recorded(batch, recorded)
            except Exception as exc:  # reporting must never stop delivery
                log.error("reporting recorded attempts failed: %s", exc)

    async def _renew_leases_forever(self) -> None:
        """Keep the leases of running attempts alive, so a slow but live attempt is
        never taken for abandoned; a worker that dies stops renewing and its leases
        lapse."""
        interval = self._options.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            running = list(self._in_flight.values())
            if not running:
                continue
            try:
                await self._store.extend_leases(running, self._options.lease_ms)
            except Exception as exc:
                log.warning("renewing %d leases failed: %s", len(running), exc)

    async def _drain(self) -> None:
        """Let in-flight attempts finish within the grace period; hand back the rest."""
        if not self._in_flight:
            return
        _, unfinished = await asyncio.wait(
            list(self._in_flight), timeout=self._options.shutdown_grace
        )
        abandoned = [self._in_flight[task] for task in unfinished if task in self._in_flight]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        if abandoned:
            with contextlib.suppress(Exception):
                await self._store.release(abandoned)
            log.info("released %d unfinished deliveries", len(abandoned))
