"""The delivery worker: claim due deliveries, attempt them, record the outcomes.

One loop claims batches under a lease; the pacer decides, per endpoint, what
starts now, what waits for a slot and what goes back to the queue; attempts run
concurrently; outcomes are buffered and recorded in batches. The database sees
one claim and one completion write per batch rather than per delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tidings.delivery import request
from tidings.delivery.egress import Egress
from tidings.delivery.guard import AddressPolicy, GuardedResolver
from tidings.delivery.http1 import Http1Client
from tidings.delivery.pacing import Decision, Pacer, Released
from tidings.delivery.reporting import AttemptReporter
from tidings.delivery.results import attempt_result
from tidings.domain.clock import now_ms
from tidings.domain.internal import DeliveryKind
from tidings.domain.models import AttemptResult, ClaimedDelivery, RecordOutcome
from tidings.domain.outcomes import Outcome
from tidings.storage.ports import Queue
from tidings.telemetry import traces

log = logging.getLogger(__name__)

CLAIM_BATCH = 256
# Claims shrink to this when the pacer cannot use what they bring (the backlog is
# on a few busy endpoints), so the worker does not churn rows back to the queue.
MIN_CLAIM = 16
# Idle workers re-check the queue at least this often, for work queued by other
# processes or falling due by schedule.
IDLE_POLL_SECONDS = 0.05
# Outcomes held unrecorded, in multiples of the worker's concurrency, before they
# take slots from new attempts (see Worker._free).
UNRECORDED_ALLOWANCE = 2
# A full worker looks again this soon even if no attempt has ended (deliveries
# handed back by the pacer fall due again quickly).
FULL_POLL_SECONDS = 0.01
# Outcomes are recorded at most this often: after a quiet spell the first is
# recorded at once, but while attempts keep ending they gather into one write
# (unless they already hold claim slots, or the worker is stopping).
# Each write rewrites the same hot pages (the queue's indexes, the lanes) and,
# on SQLite, takes the write lock the HTTP processes wait for: ending one by one,
# a few hundred actions a second cost as many writes.
RECORD_INTERVAL_SECONDS = 0.02
# A batch of outcomes that fails to record (deadlock, database restart) is retried
# this many times, backing off, before it is given up and left to the lease.
RECORD_RETRIES = 5
# With nothing rate-limited waiting, held deliveries are reconsidered this often.
PACING_IDLE_SECONDS = 0.5

# A delivery this worker cannot perform (an action another worker's config file
# declares) goes back to the queue for this long, without spending an attempt.
UNAVAILABLE_DELAY_SECONDS = 5.0

# Told about every recorded batch, e.g. to send operational webhooks.
RecordedHook = Callable[[Sequence[AttemptResult], RecordOutcome], Awaitable[None]]
SendHttp = Callable[[ClaimedDelivery], Awaitable[Outcome]]


class Performer(Protocol):
    """Performs the attempts of deliveries of the kinds FORWARD and ACTION (the
    receiving half's); the worker keeps claiming, pacing and recording, and sends
    plain HTTP deliveries itself."""

    def available(self, delivery: ClaimedDelivery) -> bool:
        """Whether this worker can perform an ACTION delivery now."""
        ...

    def concurrency_cap(self, delivery: ClaimedDelivery) -> int | None:
        """The most ACTION attempts of this delivery's action at once, if fixed."""
        ...

    async def perform(self, delivery: ClaimedDelivery, send_http: SendHttp) -> Outcome: ...


@dataclass(frozen=True)
class WorkerOptions:
    retry_schedule: Sequence[float]
    request_timeout: float
    concurrency: int
    policy: AddressPolicy
    shutdown_grace: float = 10.0
    lease_seconds: float = 30.0
    disable_after_seconds: float = 5 * 24 * 3600
    endpoint_concurrency: int = 32
    egress: Egress = field(default_factory=Egress)
    # Which attempts get a log line: all, failures or none (TIDINGS_LOG_ATTEMPTS).
    log_attempts: str = "all"
    # Send every endpoint its message's `traceparent` (TIDINGS_TRACE_PROPAGATION);
    # otherwise only endpoints that ask for it get it.
    trace_propagation: bool = False

    @property
    def lease_ms(self) -> int:
        return int(self.lease_seconds * 1000)


class Worker:
    def __init__(
        self,
        store: Queue,
        options: WorkerOptions,
        on_recorded: RecordedHook | None = None,
        performer: Performer | None = None,
    ) -> None:
        self._store = store
        self._options = options
        self.on_recorded = on_recorded
        self.performer = performer
        # Held deliveries count against capacity; a quarter of it is the most that may
        # sit waiting for busy endpoints, so others can always be claimed.
        self._pacer = Pacer(options.endpoint_concurrency, max_held=options.concurrency // 4)
        self._wakeup = asyncio.Event()
        self._results: list[AttemptResult] = []
        self._results_ready = asyncio.Event()
        self._flushing_stopped = False
        self._flushed_at = float("-inf")  # the loop's clock
        self._in_flight: dict[asyncio.Task[None], ClaimedDelivery] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._rng = random.Random()
        self._client: Http1Client | None = None
        # Built here, so that a bad CA file or proxy URL stops the start, not a delivery.
        self._tls = options.egress.tls_context()
        self._proxy = options.egress.proxy()
        self._claim_size = CLAIM_BATCH
        self._record_failures = 0
        # Set when deliveries start waiting, so the pacing loop recomputes its sleep.
        self._pacing_changed = asyncio.Event()
        self._reporter = AttemptReporter(options.log_attempts)
        # When the claiming loop last came round (the loop's clock), for /readyz.
        self.claimed_at = float("-inf")

    def claiming_stalled(self, patience: float) -> bool:
        """Whether the claiming loop has not come round for `patience` seconds (it
        turns at least every IDLE_POLL_SECONDS unless a database call hangs)."""
        return asyncio.get_running_loop().time() - self.claimed_at > patience

    def notify(self) -> None:
        """New work was committed in this process: look now rather than at the next poll."""
        self._wakeup.set()

    @property
    def _free(self) -> int:
        # Outcomes waiting to be recorded beyond a few workers' worth take slots too:
        # when recording falls behind (a huge backlog slows the database's writes),
        # claiming slows to its pace instead of piling outcomes up in memory. The
        # allowance keeps a fast drain's usual backlog of outcomes (those delivered
        # while one batch is written) from slowing it.
        backlog = max(len(self._results) - self._unrecorded_allowance, 0)
        return self._options.concurrency - len(self._in_flight) - self._pacer.waiting - backlog

    @property
    def _unrecorded_allowance(self) -> int:
        """How many outcomes may wait to be recorded before they take claim slots."""
        return UNRECORDED_ALLOWANCE * self._options.concurrency

    async def run(self, stopping: asyncio.Event) -> None:
        # The client reads no proxy variables: nothing routes deliveries around the guard.
        self._client = Http1Client(GuardedResolver(self._options.policy), self._tls, self._proxy)
        try:
            flusher = asyncio.create_task(self._flush_forever())
            helpers = [
                asyncio.create_task(self._renew_leases_forever()),
                asyncio.create_task(self._pace_forever()),
            ]
            try:
                await self._claim_until(stopping)
                await self._drain()
            finally:
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
                await asyncio.gather(*self._background, return_exceptions=True)
                await self._stop_flushing(flusher)
                await self._flush()
        finally:
            self._client.close()

    # claiming -----------------------------------------------------------------
    async def _claim_until(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            self.claimed_at = loop.time()
            # Cleared before looking, so an attempt ending from here on wakes _idle.
            self._slot_freed.clear()
            self._wakeup.clear()
            free = self._free
            if free <= 0:
                await self._idle(stopping, full=True, skip=[], due=None)
                continue
            limit = min(free, self._claim_size)
            # Endpoints with room for a whole claim need not be named.
            room = {key: size for key, size in self._pacer.room().items() if size < limit}
            skip = [endpoint_key for endpoint_key, size in room.items() if size <= 0]
            if skip:
                # With endpoints full, most wake-ups bring work for them: a read tells
                # whether anything else is due before a claim takes the write lock.
                due = await self._next_due(skip)
                if due is None or due > now_ms():
                    await self._idle(stopping, full=False, skip=skip, due=due)
                    continue
            claimed = await self._claim(limit, room)
            wasted = bool(claimed) and self._admit(claimed) == len(claimed)
            self._adapt_claim_size(wasted)
            if wasted:
                # All the due work is for endpoints that cannot take more: wait for an
                # attempt to end (or for other work) rather than spin.
                await self._idle(stopping, full=True, skip=skip, due=None)
            elif len(claimed) < limit:
                # A short claim took what was due (as far as it looked): a read says
                # whether more is due before another claim writes for nothing. After
                # an empty one the worker always pauses, so a claim that keeps failing
                # (or lanes that stay early) cannot make it spin.
                due = await self._next_due(skip)
                if not claimed or due is None or due > now_ms():
                    await self._idle(stopping, full=False, skip=skip, due=due)

    def _adapt_claim_size(self, wasted: bool) -> None:
        if wasted:
            self._claim_size = max(MIN_CLAIM, self._claim_size // 2)
        else:
            self._claim_size = min(CLAIM_BATCH, self._claim_size * 2)

    async def _claim(self, limit: int, room: dict[int, int]) -> list[ClaimedDelivery]:
        try:
            return await self._store.claim_due(limit, self._options.lease_ms, room)
        except Exception as exc:  # the database may be briefly unavailable: retry later
            log.warning("claiming deliveries failed: %s", exc)
            return []

    async def _next_due(self, skip: list[int]) -> int | None:
        """When work for endpoints not in `skip` falls due."""
        try:
            return await self._store.next_due_at(skip)
        except Exception:  # the database may be briefly unavailable: look again at the poll
            return now_ms() + int(IDLE_POLL_SECONDS * 1000)

    def _admit(self, claimed: list[ClaimedDelivery]) -> int:
        """Start, hold or hand back each claimed delivery; return how many overflowed."""
        deferred = []
        overflow = 0
        for delivery in claimed:
            if delivery.kind is DeliveryKind.ACTION:
                if self.performer is None or not self.performer.available(delivery):
                    deferred.append((delivery, UNAVAILABLE_DELAY_SECONDS))
                    continue
                delivery.concurrency_cap = self.performer.concurrency_cap(delivery)
            decision, wait = self._pacer.offer(delivery)
            if decision == Decision.START:
                self._start(delivery)
            elif decision == Decision.WAIT:
                self._pacing_changed.set()
            else:
                deferred.append((delivery, wait))
                overflow += decision == Decision.DEFER
        self._defer(deferred)
        return overflow

    async def _idle(
        self, stopping: asyncio.Event, full: bool, skip: list[int], due: int | None
    ) -> None:
        """Wait for a reason to claim again: an attempt ending (when full, or when
        endpoints in `skip` have due work), new work, or `due`, when the next other
        delivery falls due."""
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stopping.wait())]
        if full or skip:
            waiters.append(asyncio.ensure_future(self._slot_freed.wait()))
        if full:
            timeout = FULL_POLL_SECONDS
        else:
            timeout = _sleep_until(due)
            waiters.append(asyncio.ensure_future(self._wakeup.wait()))
            waiters.append(asyncio.ensure_future(self._store.wait_for_work(timeout)))
        _, pending = await asyncio.wait(waiters, timeout=timeout, return_when="FIRST_COMPLETED")
        for waiter in pending:
            waiter.cancel()

    # attempts -----------------------------------------------------------------
    def _start(self, delivery: ClaimedDelivery) -> None:
        task = asyncio.create_task(self._attempt(delivery))
        self._in_flight[task] = delivery
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._slot_freed.set()

    async def _send_http(self, delivery: ClaimedDelivery) -> Outcome:
        assert self._client is not None
        return await request.send(self._client, delivery, self._options.request_timeout)

    async def _attempt(self, delivery: ClaimedDelivery) -> None:
        options = self._options
        outcome = await self._perform(delivery)
        self._results.append(attempt_result(delivery, outcome, options.retry_schedule, self._rng))
        self._results_ready.set()
        seconds = outcome.duration_ms / 1000
        self._act(self._pacer.finished(delivery, outcome.succeeded, seconds))
        if self._pacer.waiting:
            self._pacing_changed.set()

    async def _perform(self, delivery: ClaimedDelivery) -> Outcome:
        propagate = delivery.propagate_trace or self._options.trace_propagation
        if not traces.enabled() or delivery.trace_context is None:
            # No span to make: an endpoint that wants the context gets it as stored.
            delivery.traceparent = delivery.trace_context if propagate else None
            return await self._perform_once(delivery)
        attributes = _span_attributes(delivery)
        with traces.attempt(delivery.trace_context, attributes) as (traceparent, span):
            delivery.traceparent = traceparent if propagate else None
            outcome = await self._perform_once(delivery)
            traces.finished(span, outcome.succeeded, outcome.status_code, outcome.error)
        return outcome

    async def _perform_once(self, delivery: ClaimedDelivery) -> Outcome:
        started = now_ms()
        try:
            if delivery.kind is DeliveryKind.HTTP or self.performer is None:
                return await self._send_http(delivery)
            return await self.performer.perform(delivery, self._send_http)
        except Exception as exc:  # a bug here must not strand the delivery under its lease
            log.exception("attempt of delivery %d failed unexpectedly", delivery.delivery_key)
            return Outcome(False, 0, "", now_ms() - started, f"internal error: {exc!r}")

    def _act(self, released: Released) -> None:
        for delivery in released.start:
            self._start(delivery)
        self._defer(released.defer)

    def _defer(self, deferred: list[tuple[ClaimedDelivery, float]]) -> None:
        """Hand deliveries back to the queue, due after their wait, no attempt spent."""
        by_delay: dict[int, list[ClaimedDelivery]] = {}
        for delivery, wait in deferred:
            by_delay.setdefault(int(wait * 1000), []).append(delivery)
        for delay_ms, deliveries in by_delay.items():
            self._in_background(self._store.release(deliveries, delay_ms))

    def _in_background(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception as exc:  # a lost hand-back only means waiting for the lease
                log.warning("handing deliveries back failed: %s", exc)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _pace_forever(self) -> None:
        """Start rate-limited deliveries the moment a token is due. Sleeping past that
        would let tokens pile up and then go out in a burst above the limit."""
        while True:
            wait = self._pacer.next_poll_in()
            self._pacing_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._pacing_changed.wait(), PACING_IDLE_SECONDS if wait is None else wait
                )
            self._act(self._pacer.poll())
            self._pacer.forget_idle()

    # recording ----------------------------------------------------------------
    async def _flush_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._results_ready.wait()
            lingering = self._flushed_at + RECORD_INTERVAL_SECONDS - loop.time()
            if lingering > 0 and not (self._flushing_stopped or self._holding_slots()):
                await asyncio.sleep(lingering)  # more outcomes may join this batch
            self._results_ready.clear()
            if self._flushing_stopped:
                return
            self._flushed_at = loop.time()
            await self._flush()

    def _holding_slots(self) -> bool:
        """Whether unrecorded outcomes already take claim slots (see `_free`): then
        waiting for more to join the write would only slow claiming down."""
        return len(self._results) >= self._unrecorded_allowance

    async def _stop_flushing(self, flusher: asyncio.Task[None]) -> None:
        """Stop the flusher between flushes, never during one: a cancelled flush would
        lose a batch already taken from the buffer, and its deliveries would be sent
        again once their leases lapsed."""
        self._flushing_stopped = True
        self._results_ready.set()
        await asyncio.gather(flusher, return_exceptions=True)

    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            disable_after_ms = int(self._options.disable_after_seconds * 1000)
            recorded = await self._store.record_attempts(batch, disable_after_ms)
        except Exception as exc:
            await self._record_failed(batch, exc)
            return
        finally:
            self._slot_freed.set()  # recorded outcomes may have been holding slots
        self._record_failures = 0
        self._reporter.recorded(batch, recorded)
        if self.on_recorded is not None:
            try:
                await self.on_recorded(batch, recorded)
            except Exception as exc:  # reporting must never stop delivery
                log.error("reporting recorded attempts failed: %s", exc)

    async def _record_failed(self, batch: list[AttemptResult], exc: Exception) -> None:
        """Keep the outcomes and try again later; after repeated failures give them up:
        unrecorded outcomes are not lost work, as their leases lapse and the
        deliveries are attempted again (at-least-once)."""
        self._record_failures += 1
        if self._record_failures > RECORD_RETRIES:
            log.error("recording %d attempts failed, giving up: %s", len(batch), exc)
            self._record_failures = 0
            return
        log.warning("recording %d attempts failed, will retry: %s", len(batch), exc)
        self._results = batch + self._results
        await asyncio.sleep(min(0.05 * 2**self._record_failures, 2.0))
        self._results_ready.set()

    async def _renew_leases_forever(self) -> None:
        """Keep the leases of running and held deliveries alive, so a slow but live
        attempt is never taken for abandoned; a worker that dies stops renewing and
        its leases lapse."""
        interval = self._options.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            unrecorded = [result.delivery for result in self._results]
            mine = [*self._in_flight.values(), *self._pacer.held(), *unrecorded]
            if not mine:
                continue
            try:
                await self._store.extend_leases(mine, self._options.lease_ms)
            except Exception as exc:
                log.warning("renewing %d leases failed: %s", len(mine), exc)

    # stopping -----------------------------------------------------------------
    async def _drain(self) -> None:
        """Let in-flight attempts finish within the grace period; hand back the rest."""
        held = self._pacer.take_all_waiting()
        unfinished: set[asyncio.Task[None]] = set()
        if self._in_flight:
            _, unfinished = await asyncio.wait(
                list(self._in_flight), timeout=self._options.shutdown_grace
            )
        abandoned = held + [self._in_flight[t] for t in unfinished if t in self._in_flight]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        held += self._pacer.take_all_waiting()  # released by attempts that just finished
        abandoned = list({d.delivery_key: d for d in abandoned + held}.values())
        if abandoned:
            try:
                await self._store.release(abandoned, 0)
            except Exception as exc:
                log.warning("handing back %d deliveries failed: %s", len(abandoned), exc)
            log.info("released %d unfinished deliveries", len(abandoned))


def _span_attributes(delivery: ClaimedDelivery) -> dict[str, Any]:
    return {
        "tidings.msg_id": delivery.msg_id,
        "tidings.endpoint_id": delivery.endpoint_id,
        "tidings.app_id": delivery.app_id,
        "tidings.attempt": delivery.attempts_made + 1,
    }


def _sleep_until(due: int | None) -> float:
    """How long an idle worker may sleep before the delivery due at `due` (ms)."""
    if due is None:
        return IDLE_POLL_SECONDS
    return min(max((due - now_ms()) / 1000, 0.001), IDLE_POLL_SECONDS)
