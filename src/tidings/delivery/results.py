"""Turning one HTTP outcome into a recorded attempt and the delivery's next step."""

from __future__ import annotations

import random
from collections.abc import Sequence

from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.models import AttemptResult, ClaimedDelivery
from tidings.domain.outcomes import Outcome, Verdict, classify
from tidings.domain.retry import next_retry

# A receiver that asked us to slow down waits at least this long, even where the
# schedule says to retry at once.
SLOW_DOWN_MINIMUM_SECONDS = 1.0


def attempt_result(
    delivery: ClaimedDelivery,
    outcome: Outcome,
    schedule: Sequence[float],
    rng: random.Random,
) -> AttemptResult:
    finished = now_ms()
    verdict = classify(outcome.status_code)
    if verdict == Verdict.DELIVERED and not outcome.succeeded:
        verdict = Verdict.FAILED  # a 2xx status whose answer then broke off
    return AttemptResult(
        attempt_id=ids.new_id(ids.ATTEMPT),
        delivery=delivery,
        succeeded=outcome.succeeded,
        status_code=outcome.status_code,
        response=outcome.response,
        duration_ms=outcome.duration_ms,
        error=outcome.error,
        finished_at=finished,
        retry_at=_retry_at(delivery, outcome, verdict, schedule, rng, finished),
        verdict=verdict,
        note=outcome.note,
    )


def _retry_at(
    delivery: ClaimedDelivery,
    outcome: Outcome,
    verdict: Verdict,
    schedule: Sequence[float],
    rng: random.Random,
    finished: int,
) -> int | None:
    if verdict not in (Verdict.FAILED, Verdict.SLOW_DOWN):
        return None  # delivered, or gone for good (410 disables the endpoint instead)
    slow = verdict == Verdict.SLOW_DOWN
    decision = next_retry(
        schedule,
        delivery.attempts_made + 1,
        outcome.retry_after if slow else None,
        rng,
        minimum=SLOW_DOWN_MINIMUM_SECONDS if slow else 0.0,
    )
    return finished + int(decision.delay_seconds * 1000) if decision.retry else None
