from tidings.delivery.pacing import (
    BREAKER_FIRST_COOLDOWN,
    BREAKER_MIN_ATTEMPTS,
    INITIAL_CONCURRENCY,
    MIN_HELD_PER_ENDPOINT,
    Decision,
    Pacer,
)
from tidings.domain.models import ClaimedDelivery
from tidings.domain.statuses import TriggerType


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def delivery(endpoint: int = 1, rate: int | None = None, key: int = 0) -> ClaimedDelivery:
    return ClaimedDelivery(
        delivery_key=key,
        claim_id=1,
        attempts_made=0,
        trigger_type=TriggerType.SCHEDULED,
        msg_id="msg",
        msg_key=key,
        app_key=1,
        endpoint_id=f"ep{endpoint}",
        endpoint_key=endpoint,
        url="https://example.com",
        payload=b"{}",
        secrets=[],
        headers={},
        rate_limit=rate,
    )


def fail_enough_to_trip(pacer: Pacer) -> None:
    """Attempts to endpoint 1 that all fail, as many as open its breaker."""
    for i in range(BREAKER_MIN_ATTEMPTS):
        d = delivery(key=i)
        pacer.offer(d)
        pacer.finished(d, ok=False)


def test_a_new_endpoint_starts_a_few_holds_a_few_and_hands_back_the_rest() -> None:
    pacer = Pacer(max_per_endpoint=32, clock=Clock())
    decisions = [pacer.offer(delivery(key=i))[0] for i in range(20)]
    assert decisions.count(Decision.START) == INITIAL_CONCURRENCY
    assert decisions.count(Decision.WAIT) == MIN_HELD_PER_ENDPOINT
    assert decisions.count(Decision.DEFER) == 20 - INITIAL_CONCURRENCY - MIN_HELD_PER_ENDPOINT
    assert pacer.waiting == MIN_HELD_PER_ENDPOINT


def test_the_worker_wide_hold_limit_hands_back_the_excess() -> None:
    pacer = Pacer(max_per_endpoint=32, max_held=3, clock=Clock())
    decisions = [
        pacer.offer(delivery(endpoint=e, key=e * 10 + i))[0] for e in range(3) for i in range(3)
    ]
    assert decisions.count(Decision.WAIT) == 3
    assert decisions.count(Decision.DEFER) == 3


def test_success_widens_and_failure_narrows_the_window() -> None:
    pacer = Pacer(max_per_endpoint=32, clock=Clock())
    for i in range(3):
        d = delivery(key=i)
        assert pacer.offer(d)[0] == Decision.START
        pacer.finished(d, ok=True)
    decisions = [pacer.offer(delivery(key=10 + i))[0] for i in range(6)]
    assert decisions == [Decision.START] * 4 + [Decision.WAIT] * 2
    released = pacer.finished(delivery(key=10), ok=False)
    assert released.start == []  # three still in flight, and the window is now two


def test_endpoints_do_not_share_windows() -> None:
    pacer = Pacer(max_per_endpoint=32, clock=Clock())
    for i in range(10):
        pacer.offer(delivery(endpoint=1, key=i))
    assert pacer.offer(delivery(endpoint=2))[0] == Decision.START


def test_rate_limit_allows_the_configured_attempts_per_second() -> None:
    clock = Clock()
    pacer = Pacer(max_per_endpoint=32, clock=clock)
    first = delivery(rate=2, key=0)
    assert pacer.offer(first)[0] == Decision.START
    pacer.finished(first, ok=True)
    held = [pacer.offer(delivery(rate=2, key=i))[0] for i in range(1, 4)]
    assert held == [Decision.WAIT] * 3  # no token left this second
    assert pacer.next_poll_in() is not None
    clock.now += 0.5  # one token per 1/rate seconds, never a burst
    assert len(pacer.poll().start) == 1
    assert pacer.poll().start == []
    clock.now += 0.5
    assert len(pacer.poll().start) == 1


def test_breaker_opens_defers_then_probes_once() -> None:
    clock = Clock()
    pacer = Pacer(max_per_endpoint=1000, clock=clock)
    for i in range(BREAKER_MIN_ATTEMPTS):
        d = delivery(key=i)
        assert pacer.offer(d)[0] == Decision.START
        clock.now += 0.1
        pacer.finished(d, ok=False)
    decision, wait = pacer.offer(delivery(key=99))
    assert decision == Decision.PAUSE
    assert 0 < wait <= BREAKER_FIRST_COOLDOWN
    clock.now += BREAKER_FIRST_COOLDOWN
    probes = [pacer.offer(delivery(key=100 + i))[0] for i in range(3)]
    assert probes == [Decision.START, Decision.WAIT, Decision.WAIT]  # a single probe
    released = pacer.finished(delivery(key=100), ok=True)
    assert [d.delivery_key for d in released.start] == [101, 102]  # closed again


def test_failed_probe_doubles_the_cooldown_and_hands_back_the_waiting() -> None:
    clock = Clock()
    pacer = Pacer(max_per_endpoint=1000, clock=clock)
    fail_enough_to_trip(pacer)
    clock.now += BREAKER_FIRST_COOLDOWN
    probe = delivery(key=50)
    assert pacer.offer(probe)[0] == Decision.START
    assert pacer.offer(delivery(key=51))[0] == Decision.WAIT
    released = pacer.finished(probe, ok=False)
    assert [d.delivery_key for d, _ in released.defer] == [51]
    assert released.defer[0][1] == 2 * BREAKER_FIRST_COOLDOWN


def test_room_is_free_slots_plus_free_hold_and_claims_never_bring_more() -> None:
    pacer = Pacer(max_per_endpoint=32, clock=Clock())
    pacer.offer(delivery(key=0))  # starts: the whole window of a new endpoint
    room = pacer.room()[1]
    assert room == MIN_HELD_PER_ENDPOINT
    decisions = [pacer.offer(delivery(key=i + 1))[0] for i in range(room)]
    assert Decision.DEFER not in decisions


def test_a_full_window_is_refilled_only_once_half_its_hold_is_free() -> None:
    pacer = Pacer(max_per_endpoint=32, clock=Clock())
    started = delivery(key=0)
    pacer.offer(started)
    for i in range(MIN_HELD_PER_ENDPOINT):
        pacer.offer(delivery(key=i + 1))
    assert pacer.room() == {1: 0}
    # Each finished attempt starts a held one: the hold drains one by one.
    for drained in range(1, MIN_HELD_PER_ENDPOINT // 2):
        pacer.finished(started, ok=False)  # failures keep the window at one
        assert pacer.room() == {1: 0}, drained
    pacer.finished(started, ok=False)
    assert pacer.room() == {1: MIN_HELD_PER_ENDPOINT // 2}


def test_a_paused_endpoint_has_no_room() -> None:
    clock = Clock()
    pacer = Pacer(max_per_endpoint=32, clock=clock)
    fail_enough_to_trip(pacer)
    assert pacer.room() == {1: 0}
    clock.now += BREAKER_FIRST_COOLDOWN
    assert pacer.room()[1] > 0


def test_room_counts_no_slot_a_rate_limit_or_a_probe_would_not_start() -> None:
    clock = Clock()
    pacer = Pacer(max_per_endpoint=32, clock=clock)
    for i in range(20):  # widen the window to 21 with successes, one at a time
        d = delivery(rate=1000, key=i)
        pacer.offer(d)
        clock.now += 0.01
        pacer.finished(d, ok=True)
    limited = delivery(rate=1000, key=99)
    pacer.offer(limited)  # takes the only token: the window has slots, but none can start
    hold = 21  # as wide as the window
    assert pacer.room() == {1: hold}
    clock.now += 0.01
    assert pacer.room() == {1: 1 + hold}  # a token again: one may start


def test_a_half_open_breaker_has_room_for_one_probe_and_its_hold() -> None:
    clock = Clock()
    pacer = Pacer(max_per_endpoint=32, clock=clock)
    fail_enough_to_trip(pacer)
    clock.now += BREAKER_FIRST_COOLDOWN
    assert pacer.room() == {1: 1 + MIN_HELD_PER_ENDPOINT}
    pacer.offer(delivery(key=100))  # the probe
    assert pacer.room() == {1: MIN_HELD_PER_ENDPOINT}  # only places to wait in


def test_the_worker_wide_hold_is_shared_out_not_promised_to_each_endpoint() -> None:
    pacer = Pacer(max_per_endpoint=32, max_held=10, clock=Clock())
    for endpoint in (1, 2, 3):
        pacer.offer(delivery(endpoint=endpoint, key=endpoint))  # each fills its window of 1
    room = pacer.room()
    assert sum(room.values()) <= 10
    assert room[1] == MIN_HELD_PER_ENDPOINT
