"""Per-endpoint pacing through the real server: rateLimit, concurrency, circuit breaker."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from aiohttp import web
from svix.api import (
    ApplicationIn,
    EndpointIn,
    MessageAttemptListByMsgOptions,
    MessageIn,
    Svix,
)

from tests.conftest import async_sdk, sdk
from tests.harness import ServerProcess
from tests.waiting import eventually
from tidings.delivery.pacing import BREAKER_FIRST_COOLDOWN, BREAKER_MIN_ATTEMPTS
from tidings.testing import Received, Receiver

# Six attempts per message, the retries almost at once: enough failures to trip the
# breaker within a second.
FAST_RETRIES = "0,0.05,0.05,0.05,0.05,0.05"
ATTEMPTS_PER_MESSAGE = 6
SLOW_SECONDS = 0.5

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _start(request: pytest.FixtureRequest, tmp_path: Path, **settings: str) -> ServerProcess:
    """The real server over a fresh SQLite file or PostgreSQL database, as in conftest."""
    if request.param == "postgres":
        settings["database_url"] = request.getfixturevalue("postgres_database")
    return ServerProcess(tmp_path, **settings).start()


@pytest.fixture(params=BACKENDS)
def flaky(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    server = _start(request, tmp_path, retry_schedule=FAST_RETRIES)
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def narrow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """At most three attempts in flight to any one endpoint."""
    server = _start(request, tmp_path, endpoint_concurrency="3")
    yield server
    server.stop()


@pytest.fixture
def flaky_client(flaky: ServerProcess) -> Iterator[Svix]:
    client = sdk(flaky)
    yield client
    client._httpx_client.close()


@pytest.fixture
def narrow_client(narrow: ServerProcess) -> Iterator[Svix]:
    client = sdk(narrow)
    yield client
    client._httpx_client.close()


async def _send(
    server: ServerProcess, app: str, count: int, channel: str | None = None
) -> list[str]:
    """Create `count` messages concurrently; their ids."""
    channels = [channel] if channel else None
    async with async_sdk(server) as svix:
        created = await asyncio.gather(
            *(
                svix.message.create(
                    app, MessageIn(event_type="tick", payload={"i": i}, channels=channels)
                )
                for i in range(count)
            )
        )
    return [message.id for message in created]


def _send_all(server: ServerProcess, app: str, count: int, channel: str | None = None) -> list[str]:
    return asyncio.run(_send(server, app, count, channel))


def _ids(requests: Sequence[Received]) -> list[str]:
    return [r.headers["webhook-id"] for r in requests]


def _busiest_second(requests: Sequence[Received]) -> int:
    """The most requests that arrived within any one-second window."""
    times = [r.at for r in requests]
    return max(sum(1 for u in times if t <= u < t + 1.0) for t in times)


def _until_quiet(
    receiver: Receiver, path: str, at_least: int, quiet: float, timeout: float
) -> list[Received]:
    """Wait for `at_least` requests to `path` followed by `quiet` seconds of none."""
    deadline = time.monotonic() + timeout
    while True:
        got = receiver.received(path)
        if len(got) >= at_least and time.monotonic() - got[-1].at >= quiet:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(got)} requests to {path}, never {quiet}s quiet")
        time.sleep(0.02)


class InProgress:
    """A receiver handler answering after a delay, counting requests in progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.peak_total = 0

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.current[request.path] += 1
            self.peak[request.path] = max(self.peak[request.path], self.current[request.path])
            self.peak_total = max(self.peak_total, self.current.total())
        try:
            await asyncio.sleep(SLOW_SECONDS)
        finally:
            with self._lock:
                self.current[request.path] -= 1
        return web.Response(status=200)


class Breakable:
    """A receiver handler that answers 500 until healed; once healed, its first answer
    (the breaker's probe) is 200, then 200 to all but the doomed messages, which keep
    failing, so they must use up their whole retry schedule."""

    def __init__(self, doomed: set[int]) -> None:
        self._lock = threading.Lock()
        self.doomed = doomed
        self.healed = False
        self._probed = False
        self.answers: list[tuple[str, int]] = []

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        number = (await request.json())["i"]
        with self._lock:
            if not self.healed:
                status = 500
            elif not self._probed:
                self._probed, status = True, 200
            else:
                status = 500 if number in self.doomed else 200
            self.answers.append((request.headers["webhook-id"], status))
        return web.Response(status=status)

    def heal(self) -> None:
        with self._lock:
            self.healed = True

    def by_status(self, status: int) -> Counter[str]:
        with self._lock:
            return Counter(msg for msg, answered in self.answers if answered == status)


def test_rate_limit_paces_one_endpoint_and_not_its_neighbour(
    server: ServerProcess, client: Svix, receiver: Receiver
) -> None:
    app = client.application.create(ApplicationIn(name="Paced")).id
    client.endpoint.create(app, EndpointIn(url=receiver.url("/limited"), throttle_rate=5))
    client.endpoint.create(app, EndpointIn(url=receiver.url("/free")))
    sent = _send_all(server, app, 30)

    free = receiver.wait_for(30, "/free", timeout=10)
    limited = receiver.wait_for(30, "/limited", timeout=30)

    assert sorted(_ids(free)) == sorted(sent)
    assert sorted(_ids(limited)) == sorted(sent)
    # Limited to 5/s: one token to start, then 5 a second, so 30 take at least
    # 29 / 5 = 5.8 s and no second holds more than 5 + 1. (Lower bounds only: a slow
    # machine cannot fail them. How fast unlimited deliveries go is the benchmarks' job.)
    busiest = _busiest_second(limited)
    gaps = [round(b.at - a.at, 3) for a, b in itertools.pairwise(limited)]
    assert busiest <= 6, f"{busiest} deliveries within one second; gaps {gaps}"
    assert limited[-1].at - limited[0].at >= 4.5


def test_endpoint_concurrency_caps_each_endpoint_separately(
    narrow: ServerProcess, narrow_client: Svix, receiver: Receiver
) -> None:
    gauge = InProgress()
    receiver.handle("/slow-a", gauge)
    receiver.handle("/slow-b", gauge)
    app = narrow_client.application.create(ApplicationIn(name="Slow")).id
    for path in ("/slow-a", "/slow-b", "/quick"):
        narrow_client.endpoint.create(app, EndpointIn(url=receiver.url(path)))
    sent = _send_all(narrow, app, 12)

    quick = receiver.wait_for(12, "/quick", timeout=10)
    slow_a = receiver.wait_for(12, "/slow-a", timeout=20)
    slow_b = receiver.wait_for(12, "/slow-b", timeout=20)
    eventually(lambda: gauge.current.total(), lambda n: n == 0, timeout=5)

    assert sorted(_ids(slow_a)) == sorted(_ids(slow_b)) == sorted(_ids(quick)) == sorted(sent)
    # Each slow endpoint gets at most three at once, and does reach three.
    assert gauge.peak["/slow-a"] == 3
    assert gauge.peak["/slow-b"] == 3
    # The cap is per endpoint: both slow endpoints ran their three side by side.
    assert gauge.peak_total > 3
    # A quick endpoint next to them is not held up by their backlog: all 12 of its
    # deliveries arrive before the slow endpoint's third round (each round takes 0.5 s).
    assert quick[-1].at < slow_a[6].at


def test_circuit_breaker_pauses_without_spending_attempts(
    flaky: ServerProcess, flaky_client: Svix, receiver: Receiver
) -> None:
    client = flaky_client
    endpoint = Breakable(doomed={0, 15, 30, 45})
    receiver.handle("/broken", endpoint)
    app = client.application.create(ApplicationIn(name="Broken")).id
    client.endpoint.create(app, EndpointIn(url=receiver.url("/broken")))
    sent = _send_all(flaky, app, 60)
    doomed = {sent[i] for i in endpoint.doomed}

    # A storm of fast failures trips the breaker; then nothing for the cool-down.
    storm = _until_quiet(receiver, "/broken", BREAKER_MIN_ATTEMPTS, quiet=1.5, timeout=15)
    tripped = len(storm)
    assert BREAKER_MIN_ATTEMPTS <= tripped <= BREAKER_MIN_ATTEMPTS + 1
    probe = receiver.wait_for(tripped + 1, "/broken", timeout=BREAKER_FIRST_COOLDOWN + 3)[tripped]
    first_gap = probe.at - storm[-1].at
    assert first_gap >= BREAKER_FIRST_COOLDOWN - 0.25

    # Half-open lets a single probe through; it failed, so the breaker opens again
    # (for twice as long) and nothing else is sent meanwhile.
    with pytest.raises(TimeoutError):
        receiver.wait_for(tripped + 2, "/broken", timeout=2.0)

    endpoint.heal()
    second_probe = receiver.wait_for(
        tripped + 2, "/broken", timeout=2 * BREAKER_FIRST_COOLDOWN + 3
    )[tripped + 1]
    second_gap = second_probe.at - probe.at
    assert second_gap >= 2 * BREAKER_FIRST_COOLDOWN - 0.5

    # The probe succeeded, the breaker closed, and everything flows again: each
    # message is delivered once, except the doomed ones, which keep failing and so
    # must get every attempt of their schedule as a real request. Had the pauses
    # spent attempts, they would give up early.
    def settled() -> bool:
        ok, requests = endpoint.by_status(200), Counter(_ids(receiver.received("/broken")))
        return set(ok) >= set(sent) - doomed and all(
            ok[msg] or requests[msg] >= ATTEMPTS_PER_MESSAGE for msg in doomed
        )

    eventually(settled, bool, timeout=10)
    ok, requests = endpoint.by_status(200), Counter(_ids(receiver.received("/broken")))
    assert set(ok) >= set(sent) - doomed
    assert set(ok.values()) == {1}  # one success each, nothing sent after it
    assert {msg: requests[msg] for msg in doomed - set(ok)} == {
        msg: ATTEMPTS_PER_MESSAGE for msg in doomed - set(ok)
    }

    # Each recorded attempt is a request the receiver got: pausing recorded none.
    options = MessageAttemptListByMsgOptions(limit=50)

    def attempts() -> dict[str, list[int]]:
        return {
            msg: [
                a.response_status_code
                for a in client.message_attempt.list_by_msg(app, msg, options).data
            ]
            for msg in sent
        }

    recorded = eventually(
        attempts, lambda got: sum(map(len, got.values())) >= requests.total(), timeout=10
    )
    assert {msg: len(codes) for msg, codes in recorded.items()} == dict(requests)
    assert {msg: codes.count(200) for msg, codes in recorded.items()} == {
        msg: ok[msg] for msg in sent
    }
    for msg in doomed - set(ok):
        assert recorded[msg] == [500] * ATTEMPTS_PER_MESSAGE


def test_healthy_neighbour_is_unaffected_by_a_tripped_breaker(
    flaky: ServerProcess, flaky_client: Svix, receiver: Receiver
) -> None:
    client = flaky_client
    receiver.respond("/broken", then=500)
    app = client.application.create(ApplicationIn(name="Neighbours")).id
    client.endpoint.create(app, EndpointIn(url=receiver.url("/broken"), channels=["bad"]))
    client.endpoint.create(app, EndpointIn(url=receiver.url("/healthy"), channels=["good"]))

    # When each healthy message was accepted (its 202): the API is busy with the 60
    # others at first, which is not what this test is about.
    sent_at: dict[str, float] = {}

    async def healthy_traffic() -> None:
        # Through the storm, the pause and the first (failing) probe, about 5 s in.
        async with async_sdk(flaky) as svix:
            for i in range(16):
                message = await svix.message.create(
                    app, MessageIn(event_type="tick", payload={"i": i}, channels=["good"])
                )
                sent_at[message.id] = time.monotonic()
                await asyncio.sleep(0.4)

    async def scenario() -> None:
        await asyncio.gather(_send(flaky, app, 60, "bad"), healthy_traffic())

    asyncio.run(scenario())
    healthy = receiver.wait_for(len(sent_at), "/healthy", timeout=10)
    broken = receiver.received("/broken")

    assert sorted(_ids(healthy)) == sorted(sent_at)
    latencies = [r.at - sent_at[r.headers["webhook-id"]] for r in healthy]
    print(f"healthy neighbour's slowest delivery: {max(latencies):.3f}s")
    # The breaker tripped early on: after its storm the broken endpoint got nothing
    # but the probe (and perhaps one attempt already under way), while the healthy
    # one kept being served.
    assert len(broken) >= BREAKER_MIN_ATTEMPTS
    storm_end = broken[BREAKER_MIN_ATTEMPTS - 1].at
    assert sum(1 for r in broken if storm_end < r.at <= healthy[-1].at) <= 2
    assert sum(1 for at in sent_at.values() if at > storm_end) >= 10
