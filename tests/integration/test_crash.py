"""Workers killed with SIGKILL or stopped with SIGTERM lose nothing."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import aiohttp
from svix.api import ApplicationIn, EndpointIn

from tests.conftest import sdk
from tests.harness import ServerProcess
from tests.waiting import eventually
from tidings.testing import Receiver

MESSAGES = 5000


def _setup(
    tmp_path: Path, receiver: Receiver, path: str, **settings: str
) -> tuple[ServerProcess, str]:
    """An API-only server with one app and one endpoint; returns it and the app id."""
    api = ServerProcess(tmp_path, command="api", **settings).start()
    client = sdk(api)
    app = client.application.create(ApplicationIn(name="Crash")).id
    client.endpoint.create(app, EndpointIn(url=receiver.url(path)))
    client._httpx_client.close()
    return api, app


async def _send_many(server: ServerProcess, app: str, count: int) -> set[str]:
    """Create `count` messages with 32 requests in flight; return their ids."""
    headers = {"Authorization": f"Bearer {server.token}"}
    url = f"{server.url}/api/v1/app/{app}/msg"
    gate = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(i: int) -> str:
            async with gate, session.post(url, json={"eventType": "a", "payload": {"i": i}}) as r:
                assert r.status == 202, await r.text()
                return str((await r.json())["id"])

        return set(await asyncio.gather(*(one(i) for i in range(count))))


def _ids(receiver: Receiver) -> set[str]:
    return {r.headers["webhook-id"] for r in receiver.received("/crash")}


def _in_flight(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT count(*) FROM delivery WHERE status = 3").fetchone()[0])


def test_kill_9_mid_run_loses_nothing_and_duplicates_only_in_flight(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.respond("/crash", delay=0.005)
    api, app = _setup(tmp_path, receiver, "/crash", lease_seconds="2", worker_concurrency="64")
    sent = asyncio.run(_send_many(api, app, MESSAGES))
    first = api.successor(command="worker").start()
    try:
        receiver.wait_for(MESSAGES // 5, "/crash", timeout=60)
    finally:
        first.kill()
    in_flight = _in_flight(tmp_path / "tidings.db")
    second = api.successor(command="worker").start()
    try:
        # Every distinct message, not a request count: duplicates of the deliveries
        # in flight at the kill would reach MESSAGES while some are still queued.
        eventually(lambda: _ids(receiver), lambda ids: ids >= sent, timeout=120)
        # Let reclaimed leases run out, so late duplicates would be counted too.
        eventually(lambda: _in_flight(tmp_path / "tidings.db"), lambda n: n == 0, timeout=30)
    finally:
        assert second.stop() == 0
        api.stop()
    counts = Counter(r.headers["webhook-id"] for r in receiver.received("/crash"))
    assert set(counts) == sent  # every message arrived, each under its own stable id
    duplicates = sum(counts.values()) - len(counts)
    assert duplicates <= in_flight, (duplicates, in_flight)


def test_sigterm_finishes_in_flight_attempts_without_loss_or_duplicates(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.respond("/graceful", delay=0.5)
    api, app = _setup(tmp_path, receiver, "/graceful", shutdown_grace="10", worker_concurrency="8")
    sent = asyncio.run(_send_many(api, app, 40))
    worker = api.successor(command="worker").start()
    receiver.wait_for(4, "/graceful", timeout=30)
    assert worker.stop(signal.SIGTERM) == 0
    assert _in_flight(tmp_path / "tidings.db") == 0

    again = api.successor(command="worker").start()
    try:
        receiver.wait_for(40, "/graceful", timeout=60)
    finally:
        assert again.stop() == 0
        api.stop()
    counts = Counter(r.headers["webhook-id"] for r in receiver.received("/graceful"))
    assert set(counts) == sent
    assert max(counts.values()) == 1


def test_sigterm_hands_back_attempts_that_outlive_the_grace(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.respond("/stuck", [200], then=200, delay=3)
    api, app = _setup(tmp_path, receiver, "/stuck", shutdown_grace="0.5", worker_concurrency="4")
    sent = asyncio.run(_send_many(api, app, 4))
    worker = api.successor(command="worker").start()
    receiver.wait_for(1, "/stuck", timeout=30)  # one attempt under way, the rest held
    assert worker.stop(signal.SIGTERM) == 0
    with sqlite3.connect(tmp_path / "tidings.db") as conn:
        pending = conn.execute("SELECT count(*) FROM delivery WHERE status = 1").fetchone()[0]
    assert pending == 4  # handed back, due now, not waiting for a lease to lapse

    receiver.respond("/stuck", then=200)
    again = api.successor(command="worker").start()
    try:
        arrived = receiver.wait_for(5, "/stuck", timeout=30)
    finally:
        assert again.stop() == 0
        api.stop()
    assert {r.headers["webhook-id"] for r in arrived} == sent
