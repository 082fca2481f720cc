"""Millisecond stamps that never tie within one process (lane turns)."""

from __future__ import annotations

from tidings.domain.clock import RisingClock


def test_stamps_in_one_millisecond_still_rise() -> None:
    clock = RisingClock()
    assert [clock.stamp(1_000) for _ in range(3)] == [1_000, 1_001, 1_002]


def test_stamps_meet_the_clock_again_once_it_passes_them() -> None:
    clock = RisingClock()
    for _ in range(5):
        clock.stamp(1_000)  # up to 1_004
    assert clock.stamp(1_002) == 1_005
    assert clock.stamp(2_000) == 2_000


def test_a_clock_going_back_never_takes_a_stamp_back() -> None:
    clock = RisingClock()
    assert clock.stamp(5_000) == 5_000
    assert clock.stamp(4_000) == 5_001
