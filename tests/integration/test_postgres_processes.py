"""Real `tidings` processes sharing one PostgreSQL database, as deployed at scale.

Each test gets a database of its own (see postgres_support.py): several API and
worker processes on it, a real receiver, and faults injected from outside (kill -9
of a worker, a PostgreSQL restart). Processes are stopped in `finally` blocks, so
a failing test leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from svix.api import ApplicationIn, EndpointIn

from tests.conftest import sdk
from tests.harness import ServerProcess, clean_environment
from tests.integration.postgres_support import (
    PrivateCluster,
    execute,
    fetch,
    fetchval,
    fresh_database,
    private_cluster,
)
from tests.keys import TEST_KEY
from tests.waiting import eventually
from tidings.storage.postgres.migrate import available
from tidings.testing import Receiver

pytestmark = pytest.mark.postgres

CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=30)
IN_FLIGHT = """
SELECT message.id FROM delivery JOIN message ON message.key = delivery.msg_key
WHERE delivery.status = 3
"""
# A worker opens this connection (named in storage/postgres/store.py) on its first wait.
LISTENERS = """
SELECT count(*) FROM pg_stat_activity
WHERE application_name = 'tidings-listener' AND datname = current_database()
"""


# processes -----------------------------------------------------------------------
def peer(server: ServerProcess, command: str) -> ServerProcess:
    """Another process on `server`'s settings and token, with its own port and log."""
    other = ServerProcess(server.workdir, command)
    other.token = server.token
    other.settings = {**server.settings, "TIDINGS_PORT": str(other.port)}
    return other


def stop_all(processes: list[ServerProcess]) -> None:
    """Stop every process, even when stopping one of them fails."""
    for process in processes:
        try:
            process.stop(timeout=15)
        except Exception as exc:  # keep stopping the others; the test has failed anyway
            print(f"stopping {process.command} failed: {exc!r}")


def add_endpoint(api: ServerProcess, url: str) -> str:
    """One application with one endpoint at `url`; returns the application id."""
    client = sdk(api)
    try:
        app = client.application.create(ApplicationIn(name="Scale")).id
        client.endpoint.create(app, EndpointIn(url=url))
    finally:
        client._httpx_client.close()
    return app


def session(server: ServerProcess) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {server.token}"}
    return aiohttp.ClientSession(headers=headers, timeout=CLIENT_TIMEOUT)


def start_workers(workers: list[ServerProcess], url: str) -> None:
    """Start the workers and wait until each is LISTENing, i.e. has opened the store;
    `start` does not wait for a worker, which has no health route to ask."""
    for worker in workers:
        worker.start()
    listening = eventually(lambda: fetchval(url, LISTENERS), lambda n: n >= len(workers), 30)
    assert listening == len(workers), [worker.output() for worker in workers]


@contextlib.contextmanager
def in_background(work: Callable[[], Any]) -> Iterator[Future[Any]]:
    """Run `work` in a thread and yield its future. After an error, do not wait for
    it: the caller's cleanup stops the processes it talks to, and that ends it."""
    pool = ThreadPoolExecutor(1)
    finished = False
    try:
        yield pool.submit(work)
        finished = True
    finally:
        pool.shutdown(wait=finished)


# 1. two workers, one API, kill -9 ---------------------------------------------------
MESSAGES = 10_000
# Queued before the workers start. One API process takes ~500 messages/s here, but
# only ~200/s while workers run (they share the two cores and the WAL flushes), so
# sending all 10,000 alongside them would take most of a minute. The last quarter
# still arrives mid-run.
BACKLOG = MESSAGES * 3 // 4
KILL_AFTER = MESSAGES // 4


@dataclass(frozen=True)
class Visit:
    """One request at the receiver: which message, from which client port, when."""

    msg_id: str
    port: int
    start: float
    end: float


class Timeline:
    """A receiver handler that answers after `delay` and remembers each request's span."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.visits: list[Visit] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        start = time.monotonic()
        peername = request.transport.get_extra_info("peername") if request.transport else None
        try:
            await asyncio.sleep(self.delay)
            return web.Response(text="ok")
        finally:  # also when the sender died mid-request and the handler is cancelled
            port = peername[1] if peername else 0
            end = time.monotonic()
            self.visits.append(Visit(request.headers["webhook-id"], port, start, end))

    def by_message(self) -> dict[str, list[Visit]]:
        grouped: dict[str, list[Visit]] = defaultdict(list)
        for visit in list(self.visits):  # a copy: the receiver's thread appends
            grouped[visit.msg_id].append(visit)
        return {msg_id: sorted(found, key=lambda v: v.start) for msg_id, found in grouped.items()}


async def send_many(server: ServerProcess, app: str, count: int, accepted: list[str]) -> set[str]:
    """Create `count` messages with 32 requests in flight, appending each id to
    `accepted` as it is answered (for progress); return the ids."""
    url = f"{server.url}/api/v1/app/{app}/msg"
    gate = asyncio.Semaphore(32)
    async with session(server) as client:

        async def one(i: int) -> str:
            async with gate, client.post(url, json={"eventType": "a", "payload": {"i": i}}) as r:
                assert r.status == 202, await r.text()
                accepted.append(str((await r.json())["id"]))
                return accepted[-1]

        return set(await asyncio.gather(*(one(i) for i in range(count))))


def client_ports(pid: int, server_port: int) -> set[int]:
    """Local ports of `pid`'s TCP connections to `server_port`, read from Linux's /proc:
    tells which worker process sent a request the receiver saw."""
    sockets = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            sockets.add(target[len("socket:[") : -1])
    ports = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in sockets and int(remote.rsplit(":", 1)[1], 16) == server_port:
            ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@dataclass(frozen=True)
class Kill:
    """What was true when the victim died."""

    at: float  # monotonic time once the victim had been reaped
    leased: frozenset[str]  # ids of messages whose delivery was leased (status 3)
    survivor_ports: frozenset[int]  # the survivor's connections to the receiver


def kill_worker(victim: ServerProcess, survivor: ServerProcess, url: str, port: int) -> Kill:
    assert victim.process is not None and survivor.process is not None
    survivor_ports = client_ports(survivor.process.pid, port)
    victim.kill()
    at = time.monotonic()
    # Read at once: the victim's leases lapse after TIDINGS_LEASE_SECONDS.
    leased = frozenset(row["id"] for row in fetch(url, IN_FLIGHT))
    return Kill(at, leased, frozenset(survivor_ports))


def run_and_kill(
    url: str, tmp_path: Path, receiver: Receiver, timeline: Timeline
) -> tuple[set[str], Kill, list[str]]:
    """One API and two workers; kill -9 one worker a quarter of the way through, while
    messages are still arriving."""
    api = ServerProcess(
        tmp_path, command="api", database_url=url, lease_seconds="2", worker_concurrency="64"
    ).start()
    workers = [peer(api, "worker"), peer(api, "worker")]
    try:
        app = add_endpoint(api, receiver.url("/scale"))
        accepted: list[str] = []
        with in_background(lambda: asyncio.run(send_many(api, app, MESSAGES, accepted))) as sending:
            eventually(lambda: len(accepted), lambda n: n >= BACKLOG, timeout=60)
            start_workers(workers, url)
            receiver.wait_for(KILL_AFTER, "/scale", timeout=60)
            kill = kill_worker(workers[0], workers[1], url, receiver.port)
            sent: set[str] = sending.result(timeout=90)
        eventually(lambda: len(timeline.by_message()), lambda n: n >= len(sent), timeout=90)
        # Let reclaimed leases run out, so late duplicates would be counted too.
        eventually(
            lambda: fetchval(url, "SELECT count(*) FROM delivery WHERE status = 3"),
            lambda n: n == 0,
            timeout=30,
        )
        assert workers[1].stop() == 0
        assert api.stop() == 0
    finally:
        stop_all([*workers, api])
    return sent, kill, logged_errors([*workers, api])


def test_two_workers_deliver_everything_and_a_kill_9_duplicates_only_its_leases(
    tmp_path: Path, receiver: Receiver
) -> None:
    timeline = Timeline(delay=0.005)  # work stays in flight long enough to be cut short
    receiver.handle("/scale", timeline.handle)
    with fresh_database() as url:
        sent, kill, errors = run_and_kill(url, tmp_path, receiver, timeline)
        assert fetchval(url, "SELECT count(*) FROM delivery WHERE status <> 0") == 0
    visits = timeline.by_message()
    assert set(visits) == sent  # every message arrived, under its own stable webhook-id
    # A failed write drops a whole batch of outcomes, delivered again once their
    # leases lapse: duplicates beyond what the kill explains. Say so first.
    assert not errors, errors
    both_were_sending(visits, kill)
    duplicated = {msg_id: found for msg_id, found in visits.items() if len(found) > 1}
    duplicates = sum(len(found) - 1 for found in duplicated.values())
    assert duplicates <= len(kill.leased), (duplicates, len(kill.leased))
    for msg_id, found in visits.items():
        never_concurrent(msg_id, found)
    for msg_id, found in duplicated.items():
        redone_only_after_the_kill(msg_id, found, kill)


def logged_errors(processes: list[ServerProcess]) -> list[str]:
    return [line for p in processes for line in p.output().splitlines() if " ERROR " in line]


def both_were_sending(visits: dict[str, list[Visit]], kill: Kill) -> None:
    """In the last second before the kill, requests came from the survivor's
    connections and from others (the victim's): the kill cut real work short."""
    recent = [v for found in visits.values() for v in found if kill.at - 1 <= v.start < kill.at]
    assert {visit.port in kill.survivor_ports for visit in recent} == {True, False}


def never_concurrent(msg_id: str, found: list[Visit]) -> None:
    """No two requests for one message overlapped at the receiver: a delivery was
    never attempted by two workers (or twice by one) at the same time."""
    for earlier, later in itertools.pairwise(found):
        assert later.start >= earlier.end, (msg_id, earlier, later)


def redone_only_after_the_kill(msg_id: str, found: list[Visit], kill: Kill) -> None:
    """A message is sent again only after the kill, by the survivor taking over work.

    (Which worker sent the first copy is not asserted: a connection the survivor opens
    between the port snapshot and the kill cannot be told from the victim's.)"""
    _, *again = found
    assert all(visit.start > kill.at for visit in again), (msg_id, found, kill.at)


# 2. PostgreSQL restarted under load ------------------------------------------------
SENDERS = 8


@dataclass(frozen=True)
class Answer:
    start: float
    end: float
    status: int  # 0 when no HTTP answer came at all
    msg_id: str | None


class Traffic:
    """Messages sent continuously, SENDERS at a time, until told to stop."""

    def __init__(self, server: ServerProcess, app: str) -> None:
        self.url = f"{server.url}/api/v1/app/{app}/msg"
        self.server = server
        self.answers: list[Answer] = []
        self.stopping = threading.Event()

    def accepted(self, since: float = 0.0) -> set[str]:
        return {a.msg_id for a in list(self.answers) if a.msg_id and a.start >= since}

    async def run(self) -> None:
        async with session(self.server) as client:
            await asyncio.gather(*(self._sender(client) for _ in range(SENDERS)))

    async def _sender(self, client: aiohttp.ClientSession) -> None:
        while not self.stopping.is_set():
            answer = await self._send(client)
            self.answers.append(answer)
            if answer.status != 202:
                await asyncio.sleep(0.05)  # what a polite client does on 503: back off

    async def _send(self, client: aiohttp.ClientSession) -> Answer:
        start = time.monotonic()
        try:
            async with client.post(self.url, json={"eventType": "a", "payload": {}}) as r:
                msg_id = str((await r.json())["id"]) if r.status == 202 else None
                return Answer(start, time.monotonic(), r.status, msg_id)
        except (aiohttp.ClientError, TimeoutError):
            return Answer(start, time.monotonic(), 0, None)


def health_status(server: ServerProcess) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}/api/v1/health", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass(frozen=True)
class Outage:
    down_from: float  # after `pg_ctl stop` returned
    down_until: float  # before `pg_ctl start` was run
    up_at: float  # after `pg_ctl start` returned
    health_while_down: int


def restart_under_traffic(cluster: PrivateCluster, api: ServerProcess, traffic: Traffic) -> Outage:
    eventually(lambda: len(traffic.accepted()), lambda n: n >= 100, timeout=30)
    cluster.stop("fast")
    down_from = time.monotonic()
    health = health_status(api)
    # Long enough for many requests to meet the outage, and for leases (2 s) to lapse.
    eventually(
        lambda: len([a for a in traffic.answers if a.start >= down_from]),
        lambda n: n >= 50,
        timeout=30,
    )
    time.sleep(max(0.0, down_from + 2.5 - time.monotonic()))
    down_until = time.monotonic()
    cluster.start()
    up_at = time.monotonic()
    eventually(lambda: len(traffic.accepted(since=up_at)), lambda n: n >= 100, timeout=30)
    return Outage(down_from, down_until, up_at, health)


def run_through_restart(
    cluster: PrivateCluster, tmp_path: Path, receiver: Receiver
) -> tuple[Traffic, Outage]:
    url = cluster.url("tidings")
    api = ServerProcess(tmp_path, command="api", database_url=url, lease_seconds="2").start()
    workers = [peer(api, "worker"), peer(api, "worker")]
    try:
        traffic = Traffic(api, add_endpoint(api, receiver.url("/restart")))
        start_workers(workers, url)
        with in_background(lambda: asyncio.run(traffic.run())) as sending:
            try:
                outage = restart_under_traffic(cluster, api, traffic)
            finally:
                traffic.stopping.set()
            sending.result(timeout=60)
        eventually(
            lambda: delivered(receiver, "/restart"),
            lambda ids: ids >= traffic.accepted(),
            timeout=60,
        )
        # Nobody restarted the workers: they reconnected by themselves.
        assert all(worker.process and worker.process.poll() is None for worker in workers)
        assert [worker.stop() for worker in workers] == [0, 0]
        assert api.stop() == 0
    finally:
        stop_all([*workers, api])
    return traffic, outage


def test_postgres_restart_answers_503_meanwhile_and_loses_nothing_accepted(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.respond("/restart", delay=0.005)
    with private_cluster() as cluster:
        execute(cluster.url(), "CREATE DATABASE tidings")
        traffic, outage = run_through_restart(cluster, tmp_path, receiver)
        stored = {row["id"] for row in fetch(cluster.url("tidings"), "SELECT id FROM message")}
    answers = list(traffic.answers)
    statuses = Counter(a.status for a in answers)
    # Only two answers are allowed at any moment: accepted (committed), or 503 (retry).
    assert statuses.keys() <= {202, 503}, statuses
    assert outage.health_while_down == 503
    while_down = [a for a in answers if a.start >= outage.down_from and a.end <= outage.down_until]
    assert len(while_down) >= 50 and {a.status for a in while_down} == {503}
    accepted = traffic.accepted()
    assert traffic.accepted(since=outage.up_at)  # the API reconnected by itself
    assert accepted <= stored
    # Delivered by workers that were never restarted, including what came after.
    assert accepted <= delivered(receiver, "/restart")


def delivered(receiver: Receiver, path: str) -> set[str]:
    return {r.headers["webhook-id"] for r in receiver.received(path)}


# 3. one idempotency key at two APIs at once ---------------------------------------
REQUESTS_PER_API = 20
KEY = "order-42"
# Rows of the test's application only: operational webhooks (endpoint.created) are
# messages too, of Tidings' own application.
OF_APP = (
    "SELECT count(*) FROM {table} WHERE app_key = (SELECT key FROM application WHERE id = '{app}')"
)


async def post_message(
    client: aiohttp.ClientSession, server: ServerProcess, app: str, key: str, body: dict[str, Any]
) -> tuple[int, Any]:
    url = f"{server.url}/api/v1/app/{app}/msg"
    async with client.post(url, json=body, headers={"idempotency-key": key}) as r:
        return r.status, await r.json()


async def same_key_at_both(apis: list[ServerProcess], app: str, body: dict[str, Any]) -> list[Any]:
    """REQUESTS_PER_API requests at each API, all at once, with one key and one body."""
    async with session(apis[0]) as client:
        sends = [
            post_message(client, api, app, KEY, body)
            for api in apis
            for _ in range(REQUESTS_PER_API)
        ]
        return await asyncio.gather(*sends)


def test_one_idempotency_key_at_two_apis_at_once_makes_one_message(tmp_path: Path) -> None:
    body = {"eventType": "a", "payload": {"order": 42}}
    with fresh_database() as url:
        first = ServerProcess(tmp_path, command="api", database_url=url).start()
        apis = [first, peer(first, "api")]
        try:
            apis[1].start()
            app = add_endpoint(first, "http://127.0.0.1:9/never-called")  # no worker runs
            answers = asyncio.run(same_key_at_both(apis, app, body))
            other_body = asyncio.run(same_key_at_both(apis, app, {**body, "payload": {}}))
        finally:
            stop_all(apis)
        counts = [
            fetchval(url, OF_APP.format(table=table, app=app))
            for table in ("message", "delivery", "idempotency")
        ]
    statuses = Counter(status for status, _ in answers)
    # A request that finds the key held by one still in progress, on either process,
    # gets 409; one that comes after it committed gets the same 202 again.
    assert set(statuses) == {202, 409}, answers
    assert len({answer["id"] for status, answer in answers if status == 202}) == 1
    assert counts == [1, 1, 1]  # one message, one delivery, one key
    other = Counter(status for status, _ in other_body)
    assert 422 in other and set(other) <= {422, 409}, other_body


# 4. `tidings migrate` ---------------------------------------------------------------
SCHEMA = {
    "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default
                  FROM information_schema.columns WHERE table_schema = 'public'
                  ORDER BY table_name, column_name""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
    "ORDER BY indexname",
}


def schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [tuple(row) for row in fetch(url, sql)] for name, sql in SCHEMA.items()}


def run_migrate(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidings", "migrate"],
        env=clean_environment({"TIDINGS_DATABASE_URL": url, "TIDINGS_SECRET_KEY": TEST_KEY}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_creates_the_schema_once_and_then_does_nothing() -> None:
    with fresh_database() as url:
        assert schema(url) == {"columns": [], "indexes": []}
        first = run_migrate(url)
        assert first.returncode == 0, first.stderr
        created = schema(url)
        applied = fetch(url, "SELECT version, name, applied_at FROM schema_migration")
        second = run_migrate(url)
        assert second.returncode == 0, second.stderr
        assert schema(url) == created
        # Same rows, same applied_at: the second run applied nothing again.
        assert fetch(url, "SELECT version, name, applied_at FROM schema_migration") == applied
    assert "database is up to date" in first.stdout and "database is up to date" in second.stdout
    assert sorted(row["version"] for row in applied) == [number for number, _, _ in available()]
    tables = {table for table, *_ in created["columns"]}
    assert tables >= {"application", "endpoint", "message", "delivery", "attempt", "lane"}
