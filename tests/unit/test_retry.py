import random

import pytest

from tidings.domain.retry import DEFAULT_SCHEDULE, JITTER, next_retry, parse_schedule


def test_default_schedule_is_svix_s() -> None:
    assert DEFAULT_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


@pytest.mark.parametrize("attempts", range(1, len(DEFAULT_SCHEDULE)))
def test_delay_follows_the_schedule_within_jitter(attempts: int) -> None:
    planned = DEFAULT_SCHEDULE[attempts]
    for seed in range(50):
        decision = next_retry(DEFAULT_SCHEDULE, attempts, rng=random.Random(seed))
        assert decision.retry
        assert planned * (1 - JITTER) <= decision.delay_seconds <= planned * (1 + JITTER)


def test_jitter_spreads_retries() -> None:
    delays = {
        next_retry(DEFAULT_SCHEDULE, 2, rng=random.Random(s)).delay_seconds for s in range(20)
    }
    assert len(delays) > 10


def test_jitter_reaches_both_sides_of_the_schedule() -> None:
    planned = DEFAULT_SCHEDULE[3]
    delays = [
        next_retry(DEFAULT_SCHEDULE, 3, rng=random.Random(s)).delay_seconds for s in range(200)
    ]
    assert sum(d < planned * 0.95 for d in delays) > 50
    assert sum(d > planned * 1.05 for d in delays) > 50
    assert planned * 0.95 < sum(delays) / len(delays) < planned * 1.05


def test_a_slow_down_waits_at_least_the_minimum_whatever_the_jitter() -> None:
    schedule = (0, 0.2)
    delays = [
        next_retry(schedule, 1, rng=random.Random(s), minimum=1.0).delay_seconds for s in range(50)
    ]
    assert min(delays) == 1.0  # jitter below the floor is lifted to it
    assert max(delays) <= 1.0 * (1 + JITTER)
    assert max(delays) > 1.0


def test_retry_after_is_clamped_around_the_minimum_when_the_schedule_is_shorter() -> None:
    # The floor replaces the schedule's entry, so Retry-After may stretch it to twice the floor.
    assert next_retry((0, 0.2), 1, retry_after=5, minimum=1.0).delay_seconds == 2.0
    assert next_retry((0, 0.2), 1, retry_after=0, minimum=1.0).delay_seconds == 1.0
    assert next_retry((0, 0.2), 1, retry_after=1.5, minimum=1.0).delay_seconds == 1.5


def test_no_retry_after_the_last_entry() -> None:
    assert not next_retry(DEFAULT_SCHEDULE, len(DEFAULT_SCHEDULE)).retry
    assert not next_retry((0,), 1).retry


def test_retry_after_is_clamped_between_one_and_two_times_the_schedule() -> None:
    assert next_retry((0, 10), 1, retry_after=1).delay_seconds == 10
    assert next_retry((0, 10), 1, retry_after=15).delay_seconds == 15
    assert next_retry((0, 10), 1, retry_after=3600).delay_seconds == 20


def test_parse_schedule_accepts_fractions_and_rejects_junk() -> None:
    assert parse_schedule("0, 0.5,2") == (0, 0.5, 2)
    for bad in ("", "a,b", "1,-1"):
        with pytest.raises(ValueError, match="schedule"):
            parse_schedule(bad)


def test_no_floor_unless_asked() -> None:
    assert next_retry((0, 0), 1).delay_seconds == 0.0


def test_the_end_of_the_schedule_is_a_plain_no() -> None:
    decision = next_retry((0, 5), 2)
    assert decision.retry is False and decision.delay_seconds == 0.0
