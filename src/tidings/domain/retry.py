"""The retry policy: a pure function of the attempt number and the outcome."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

# Seconds to wait before each attempt: the first is immediate, then 5 s, 5 min,
# 30 min, 2 h, 5 h, 10 h, 10 h. This is the schedule Svix documents.
DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2


def parse_schedule(text: str) -> tuple[float, ...]:
    """Parse `TIDINGS_RETRY_SCHEDULE`: comma-separated seconds, fractions allowed."""
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"retry schedule must be comma-separated seconds, got {text!r}") from None
    if not delays or any(delay < 0 for delay in delays):
        raise ValueError(f"retry schedule needs at least one non-negative delay, got {text!r}")
    return delays


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay_seconds: float = 0.0


def next_retry(
    schedule: Sequence[float],
    attempts_made: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
    minimum: float = 0.0,
) -> RetryDecision:
    """Decide what follows a failed attempt.

    `attempts_made` counts the attempts so far, including the one that failed.
    `retry_after` is a server's Retry-After, honoured within 1x-2x of the schedule so
    a hostile server can neither hammer us nor park a delivery for a year.
    `minimum` is a floor on the delay, used when the server asked us to slow down.
    """
    if attempts_made >= len(schedule):
        return RetryDecision(retry=False)
    planned = max(schedule[attempts_made], minimum)
    delay = planned * (1 + (rng or random).uniform(-JITTER, JITTER))
    if retry_after is not None:
        delay = min(max(retry_after, planned), 2 * planned)
    return RetryDecision(retry=True, delay_seconds=max(delay, minimum))
