"""Per-endpoint pacing: how many attempts an endpoint gets at once, and when.

Three rules keep one bad endpoint from hurting the others:
- Concurrency adapts (additive increase, multiplicative decrease): a new endpoint
  starts with a few attempts in flight, gains one per success and halves on each
  failure, so an endpoint that hangs until the deadline ties up one slot, not
  hundreds.
- `rateLimit` (attempts per second) is a token bucket.
- A circuit breaker: an endpoint whose recent attempts nearly all fail is paused
  for a cool-down that doubles while it keeps failing; then a single probe decides.
  Paused deliveries go back to the queue without spending an attempt.

The pacer is plain logic over an injectable clock; the worker acts on its answers.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from tidings.domain.models import ClaimedDelivery

INITIAL_CONCURRENCY = 1.0
BREAKER_WINDOW_SECONDS = 10.0
BREAKER_MIN_ATTEMPTS = 20
BREAKER_FAILURE_RATIO = 0.9
BREAKER_FIRST_COOLDOWN = 5.0
BREAKER_MAX_COOLDOWN = 300.0
# Beyond its window, an endpoint may have this many deliveries held waiting (or its
# window, if larger); more go back to the queue, so a slow endpoint cannot hoard a
# worker's capacity. They come back after about one typical attempt's duration.
MIN_HELD_PER_ENDPOINT = 8
OVERFLOW_MIN_DELAY = 0.05
OVERFLOW_MAX_DELAY = 30.0


class Decision(Enum):
    START = "start"
    WAIT = "wait"
    # Back to the queue: the endpoint's window and hold are full.
    DEFER = "defer"
    # Back to the queue: the endpoint's circuit breaker is open.
    PAUSE = "pause"


@dataclass
class _Breaker:
    """Closed while `open_until` is None; open until then; half-open after it, when a
    single probe is let through."""

    outcomes: deque[tuple[float, bool]] = field(default_factory=deque)
    # Failures among `outcomes`, kept as they come and go (the window can hold
    # thousands of outcomes of a busy endpoint; recounting each time is costly).
    failures: int = 0
    open_until: float | None = None
    cooldown: float = BREAKER_FIRST_COOLDOWN
    probe_out: bool = False

    def is_open(self, now: float) -> bool:
        return self.open_until is not None and now < self.open_until

    def half_open(self, now: float) -> bool:
        return self.open_until is not None and now >= self.open_until

    def record(self, now: float, ok: bool) -> None:
        if self.open_until is not None:
            # The probe's answer (or that of an attempt started before the trip).
            self.probe_out = False
            if ok:
                self.open_until, self.cooldown = None, BREAKER_FIRST_COOLDOWN
            else:
                self.cooldown = min(self.cooldown * 2, BREAKER_MAX_COOLDOWN)
                self._trip(now)
            return
        self.outcomes.append((now, ok))
        self.failures += not ok
        while self.outcomes and self.outcomes[0][0] < now - BREAKER_WINDOW_SECONDS:
            self.failures -= not self.outcomes.popleft()[1]
        if self._failing():
            self._trip(now)

    def _failing(self) -> bool:
        enough = len(self.outcomes) >= BREAKER_MIN_ATTEMPTS
        return enough and self.failures >= BREAKER_FAILURE_RATIO * len(self.outcomes)

    def _trip(self, now: float) -> None:
        self.open_until = now + self.cooldown
        self.outcomes.clear()
        self.failures = 0

    def admits(self, now: float, in_flight: int, limit: int) -> bool:
        """Whether one more attempt may start; in half-open, only a single probe."""
        if not self.half_open(now):
            return in_flight < limit
        if self.probe_out or in_flight:
            return False
        self.probe_out = True
        return True


@dataclass
class _Bucket:
    rate: float
    tokens: float
    updated: float

    def refill(self, now: float) -> bool:
        """Add what has accrued; True when a token is there. At most one token is kept,
        so attempts are spaced 1/rate apart and no second ever holds more than the
        limit, even after an idle spell."""
        self.tokens = min(1.0, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return self.tokens >= 1

    def wait_time(self) -> float:
        return max(0.0, (1 - self.tokens) / self.rate)

    def has_token(self, now: float) -> bool:
        """Whether `refill` would find a token now; changes nothing."""
        return self.tokens + (now - self.updated) * self.rate >= 1


@dataclass
class _Pace:
    limit: float
    # Smoothed attempt duration: how long an overflowing delivery should stay away.
    typical_seconds: float = 0.1
    in_flight: int = 0
    waiting: deque[ClaimedDelivery] = field(default_factory=deque)
    breaker: _Breaker = field(default_factory=_Breaker)
    bucket: _Bucket | None = None
    # A fixed concurrency (an action's limit) instead of the adaptive one.
    cap: int | None = None


@dataclass
class Released:
    """What the worker should do after a change: start these, hand those back."""

    start: list[ClaimedDelivery] = field(default_factory=list)
    defer: list[tuple[ClaimedDelivery, float]] = field(default_factory=list)


class Pacer:
    def __init__(
        self,
        max_per_endpoint: int,
        max_held: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = float(max_per_endpoint)
        self._max_held = max_held
        self._clock = clock
        self._paces: dict[int, _Pace] = {}
        self._held = 0

    @property
    def waiting(self) -> int:
        return self._held

    def _pace(self, delivery: ClaimedDelivery) -> _Pace:
        pace = self._paces.get(delivery.endpoint_key)
        if pace is None:
            pace = _Pace(limit=min(INITIAL_CONCURRENCY, self._max))
            self._paces[delivery.endpoint_key] = pace
        self._sync_rate(pace, delivery.rate_limit)
        pace.cap = delivery.concurrency_cap
        if pace.cap is not None:
            pace.limit = float(pace.cap)
        return pace

    def _sync_rate(self, pace: _Pace, rate: int | None) -> None:
        if rate is None:
            pace.bucket = None
        elif pace.bucket is None or pace.bucket.rate != rate:
            pace.bucket = _Bucket(rate=float(rate), tokens=1.0, updated=self._clock())

    def offer(self, delivery: ClaimedDelivery) -> tuple[Decision, float]:
        """Start now, wait here for a slot, or go back to the queue until a time
        (seconds from now)."""
        pace, now = self._pace(delivery), self._clock()
        if pace.breaker.open_until is not None and pace.breaker.is_open(now):
            return Decision.PAUSE, pace.breaker.open_until - now
        if not pace.waiting and self._may_start(pace, now):
            pace.in_flight += 1
            return Decision.START, 0.0
        if self._held >= self._max_held or len(pace.waiting) >= max(
            pace.limit, MIN_HELD_PER_ENDPOINT
        ):
            return Decision.DEFER, min(
                max(pace.typical_seconds, OVERFLOW_MIN_DELAY), OVERFLOW_MAX_DELAY
            )
        pace.waiting.append(delivery)
        self._held += 1
        return Decision.WAIT, 0.0

    def _may_start(self, pace: _Pace, now: float) -> bool:
        if pace.bucket is not None and not pace.bucket.refill(now):
            return False
        if not pace.breaker.admits(now, pace.in_flight, int(pace.limit)):
            return False
        if pace.bucket is not None:
            pace.bucket.tokens -= 1
        return True

    def finished(self, delivery: ClaimedDelivery, ok: bool, seconds: float = 0.0) -> Released:
        pace, now = self._pace(delivery), self._clock()
        pace.in_flight -= 1
        pace.typical_seconds = 0.8 * pace.typical_seconds + 0.2 * seconds
        if pace.cap is None:
            pace.limit = min(pace.limit + 1, self._max) if ok else max(pace.limit / 2, 1.0)
        pace.breaker.record(now, ok)
        return self._release(pace, now)

    def poll(self) -> Released:
        """Start what rate limits now allow; hand back what a tripped breaker holds."""
        released = Released()
        now = self._clock()
        for pace in self._paces.values():
            if pace.waiting:
                more = self._release(pace, now)
                released.start += more.start
                released.defer += more.defer
        return released

    def room(self) -> dict[int, int]:
        """How many more deliveries each endpoint seen lately can take now: what could
        start at once plus free places in its hold; 0 while paused. Claims take no
        more than this, so a busy endpoint's backlog stays queued instead of being
        claimed and handed straight back (endpoints not named take a fair share).
        A full window's hold is topped up only once half of it is free, so a busy
        endpoint costs a claim per few attempts rather than one per attempt. The
        worker-wide hold is shared out, not promised to each endpoint whole."""
        now = self._clock()
        unheld = self._max_held - self._held
        room = {}
        for key, pace in self._paces.items():
            startable, held = self._room(pace, now, unheld)
            room[key] = startable + held
            unheld -= held
        return room

    def _room(self, pace: _Pace, now: float, unheld: int) -> tuple[int, int]:
        """(how many would start at once, how many more the hold takes) for `pace`."""
        if pace.breaker.is_open(now):
            return 0, 0
        startable = self._startable(pace, now)
        hold = max(int(pace.limit), MIN_HELD_PER_ENDPOINT)
        free = max(min(hold - len(pace.waiting), unheld), 0)
        if startable == 0 and free * 2 < hold:
            return 0, 0
        return startable, free

    def _startable(self, pace: _Pace, now: float) -> int:
        """How many offers would start at once (`offer`'s rules, without a token taken)."""
        if pace.waiting:
            return 0  # offers queue behind those already waiting
        slots = max(int(pace.limit) - pace.in_flight, 0)
        if pace.breaker.half_open(now):
            slots = 0 if pace.breaker.probe_out or pace.in_flight else min(slots, 1)
        if pace.bucket is not None:
            slots = min(slots, 1 if pace.bucket.has_token(now) else 0)
        return slots

    def held(self) -> list[ClaimedDelivery]:
        """Deliveries claimed but waiting here (their leases need renewing too)."""
        return [d for pace in self._paces.values() for d in pace.waiting]

    def take_all_waiting(self) -> list[ClaimedDelivery]:
        held = self.held()
        for pace in self._paces.values():
            pace.waiting.clear()
        self._held = 0
        return held

    def next_poll_in(self) -> float | None:
        """Seconds until a rate-limited waiting delivery may start, if any waits."""
        waits = [p.bucket.wait_time() for p in self._paces.values() if p.waiting and p.bucket]
        return min(waits) if waits else None

    def _release(self, pace: _Pace, now: float) -> Released:
        released = Released()
        if pace.breaker.open_until is not None and pace.breaker.is_open(now):
            until = pace.breaker.open_until - now
            released.defer = [(delivery, until) for delivery in pace.waiting]
            self._held -= len(pace.waiting)
            pace.waiting.clear()
            return released
        while pace.waiting and self._may_start(pace, now):
            pace.in_flight += 1
            self._held -= 1
            released.start.append(pace.waiting.popleft())
        return released

    def forget_idle(self) -> None:
        """Drop state of endpoints with nothing in flight or waiting and a closed breaker."""
        now = self._clock()
        for key in [k for k, p in self._paces.items() if _idle(p, now)]:
            del self._paces[key]


def _idle(pace: _Pace, now: float) -> bool:
    return (
        not pace.in_flight
        and not pace.waiting
        and pace.breaker.open_until is None
        and not pace.breaker.outcomes
    )
