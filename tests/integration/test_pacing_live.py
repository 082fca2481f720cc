"""Per-endpoint pacing through the real server: rateLimit, concurrency, circuit breaker."""

from __future__ import annotations

import asyncio
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
    # Unlimited: all at once. Limited to 5/s: one token to start, then 5 a second,
    # so 30 take about 29 / 5 = 5.8 s and no second holds more than 5 + 1.
    assert free[-1].at - free[0].at < 1.0
    assert _busiest_second(limited) <= 6
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
    started = time.monotonic()
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
    # 12 at 0.5 s each, 3 at a time after ramping up (1, 2, 3, 3, 3): about 2.5 s each,
    # in parallel rather than one after the other (which would take about 5 s).
    assert abs(slow_a[-1].at - slow_b[-1].at) < 1.0
    assert slow_b[-1].at - started < 4.5
    # A quick endpoint next to them is not held up by their backlog.
    assert quick[-1].at < slow_a[-1].at - 1.0


def test_circuit_breaker_pauses_without_spending_attempts(
    flaky: ServerProcess, flaky_client: Svix, receiver: Receiver
) -> None:
    client = flaky_client
    receiver.respond("/broken", then=500)
    app = client.application.create(ApplicationIn(name="Broken")).id
    client.endpoint.create(app, EndpointIn(url=receiver.url("/broken")))
    sent = _send_all(flaky, app, 60)

    # A storm of fast failures trips the breaker; then nothing for the cool-down.
    storm = _until_quiet(receiver, "/broken", BREAKER_MIN_ATTEMPTS, quiet=1.5, timeout=15)
    tripped = len(storm)
    assert BREAKER_MIN_ATTEMPTS <= tripped <= BREAKER_MIN_ATTEMPTS + 1
    first_probe = receiver.wait_for(tripped + 1, "/broken", timeout=BREAKER_FIRST_COOLDOWN + 3)[
        tripped
    ]
    first_gap = first_probe.at - storm[-1].at
    assert BREAKER_FIRST_COOLDOWN - 0.25 <= first_gap <= BREAKER_FIRST_COOLDOWN + 1.5

    # Half-open lets a single probe through; it failed, so the breaker opens again
    # (for twice as long) and nothing else is sent meanwhile.
    with pytest.raises(TimeoutError):
        receiver.wait_for(tripped + 2, "/broken", timeout=2.0)

    receiver.respond("/broken", then=200)
    second_probe = receiver.wait_for(
        tripped + 2, "/broken", timeout=2 * BREAKER_FIRST_COOLDOWN + 3
    )[-1]
    second_gap = second_probe.at - first_probe.at
    assert 2 * BREAKER_FIRST_COOLDOWN - 0.5 <= second_gap <= 2 * BREAKER_FIRST_COOLDOWN + 1.5

    # Every message either used up its six attempts in the storm or is now delivered.
    before_switch = Counter(_ids(receiver.received("/broken")[: tripped + 1]))
    exhausted = {msg for msg, n in before_switch.items() if n >= ATTEMPTS_PER_MESSAGE}

    def delivered() -> set[str]:
        return set(_ids(receiver.received("/broken")[tripped + 1 :]))

    done = eventually(delivered, lambda got: got | exhausted == set(sent), timeout=10)
    assert done | exhausted == set(sent)
    assert not done & exhausted
    assert len(done) >= len(sent) - 5
    answered_ok = Counter(_ids(receiver.received("/broken")[tripped + 1 :]))
    assert set(answered_ok.values()) == {1}  # one 200 each, no resend after success

    # Each recorded attempt is a request the receiver got: pausing spent none.
    requests = Counter(_ids(receiver.received("/broken")))
    options = MessageAttemptListByMsgOptions(limit=50)

    def attempts() -> dict[str, int]:
        return {
            msg: len(client.message_attempt.list_by_msg(app, msg, options).data) for msg in sent
        }

    recorded = eventually(attempts, lambda got: sum(got.values()) >= requests.total(), timeout=10)
    assert recorded == {msg: requests[msg] for msg in sent}
    assert all(1 <= n <= ATTEMPTS_PER_MESSAGE for n in recorded.values())


def test_healthy_neighbour_is_unaffected_by_a_tripped_breaker(
    flaky: ServerProcess, flaky_client: Svix, receiver: Receiver
) -> None:
    client = flaky_client
    receiver.respond("/broken", then=500)
    app = client.application.create(ApplicationIn(name="Neighbours")).id
    client.endpoint.create(app, EndpointIn(url=receiver.url("/broken"), channels=["bad"]))
    client.endpoint.create(app, EndpointIn(url=receiver.url("/healthy"), channels=["good"]))

    sent_at: dict[str, float] = {}

    async def scenario() -> None:
        async def healthy_traffic() -> None:
            async with async_sdk(flaky) as svix:
                for i in range(12):
                    before = time.monotonic()
                    message = await svix.message.create(
                        app, MessageIn(event_type="tick", payload={"i": i}, channels=["good"])
                    )
                    sent_at[message.id] = before
                    await asyncio.sleep(0.25)

        await asyncio.gather(_send(flaky, app, 60, "bad"), healthy_traffic())

    asyncio.run(scenario())
    healthy = receiver.wait_for(12, "/healthy", timeout=10)
    broken = receiver.received("/broken")

    assert sorted(_ids(healthy)) == sorted(sent_at)
    latencies = [r.at - sent_at[r.headers["webhook-id"]] for r in healthy]
    assert max(latencies) < 1.0
    # The breaker did trip while the healthy endpoint was being served: its storm
    # ended early and later healthy messages went out while it was paused.
    assert len(broken) >= BREAKER_MIN_ATTEMPTS
    last_failure = broken[-1].at
    assert last_failure < healthy[-1].at - 1.0
    assert sum(1 for r in healthy if r.at > last_failure) >= 4
