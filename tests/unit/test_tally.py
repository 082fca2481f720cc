"""The tally adds up to what calling the instruments directly gives, bucket for
bucket, and flushes within a second inside an event loop, at once outside one."""

from __future__ import annotations

import asyncio
import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tidings.telemetry import tally
from tidings.telemetry.tally import Tally

BUCKETS = (0.001, 0.01, 0.1, 1.0, 10.0)


def instruments() -> tuple[CollectorRegistry, Counter, Histogram]:
    registry = CollectorRegistry()
    counter = Counter("t_requests", "r", ["route", "status"], registry=registry)
    histogram = Histogram("t_seconds", "s", ["route"], buckets=BUCKETS, registry=registry)
    return registry, counter, histogram


def exposition(registry: CollectorRegistry) -> bytes:
    # `_created` stamps differ between two registries made moments apart.
    lines = generate_latest(registry).splitlines()
    return b"\n".join(line for line in lines if b"_created" not in line)


def test_the_same_exposition_as_direct_calls() -> None:
    rng = random.Random(7)
    values = [rng.choice([0.0, 0.001, 0.01, 10.0, 11.0]) or rng.random() for _ in range(500)]
    direct, counter, histogram = instruments()
    tallied, counter2, histogram2 = instruments()
    gathered = Tally()
    for index, value in enumerate(values):
        route, status = f"/r{index % 3}", str(200 + index % 2)
        counter.labels(route, status).inc()
        histogram.labels(route).observe(value)
        gathered.count(counter2, (route, status))
        gathered.observe(histogram2, value, (route,))
    gathered.flush()
    assert exposition(tallied) == exposition(direct)
    # Values on a bucket's bound count in that bucket, as the client counts them.
    assert b't_seconds_bucket{le="0.001",route="/r0"}' in exposition(direct)


def test_outside_a_loop_each_count_is_added_at_once() -> None:
    _, counter, _ = instruments()
    gathered = Tally()
    gathered.count(counter, ("/a", "200"), 3)
    assert counter.labels("/a", "200")._value.get() == 3


def test_inside_a_loop_counts_are_added_within_a_second() -> None:
    _, counter, _ = instruments()
    gathered = Tally()

    async def scenario() -> list[float]:
        seen = []
        for _ in range(100):
            gathered.count(counter, ("/a", "200"))
        seen.append(counter.labels("/a", "200")._value.get())
        await asyncio.sleep(tally.FLUSH_SECONDS + 0.2)
        seen.append(counter.labels("/a", "200")._value.get())
        return seen

    assert asyncio.run(scenario()) == [0, 100]


def test_a_flush_due_on_an_ended_loop_does_not_hold_counts_back() -> None:
    _, counter, _ = instruments()
    gathered = Tally()

    async def count_once() -> None:
        gathered.count(counter, ("/a", "200"))

    asyncio.run(count_once())  # its loop ends before the flush it scheduled
    asyncio.run(count_once())
    gathered.count(counter, ("/a", "200"))  # outside any loop: everything, now
    assert counter.labels("/a", "200")._value.get() == 3
