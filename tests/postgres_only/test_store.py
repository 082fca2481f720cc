"""What only the PostgreSQL backend has to prove: migrations under concurrency,
the claim's index, race-safety across connections, LISTEN/NOTIFY wake-ups, and
recovery when the server goes away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest

from tests.contract.test_store import make_app, make_endpoint, result, send
from tests.keys import TEST_KEYS
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict, InvalidInput, StorageUnavailable
from tidings.domain.models import (
    Application,
    Endpoint,
    Message,
)
from tidings.domain.statuses import DeliveryStatus
from tidings.storage import CreatedMessage, Idempotency, Store, open_store
from tidings.storage.postgres import claim, lanes, migrate, rows
from tidings.storage.postgres.notify import CHANNEL, Announcer
from tidings.storage.postgres.store import PostgresStore
from tidings.testing import free_port

pytestmark = pytest.mark.postgres

Run = Callable[[Awaitable[Any]], Any]
DAY = 24 * 3600 * 1000
POSTGRES_PORT = 5432
STRANDED = """
SELECT count(*) FROM delivery LEFT JOIN lane USING (endpoint_key)
WHERE delivery.status IN (1, 3)
    AND (lane.endpoint_key IS NULL OR lane.next_check > delivery.due_at)
"""


@contextlib.asynccontextmanager
async def opened(url: str, **options: int) -> Any:
    store = PostgresStore(url, **options, keys=TEST_KEYS)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def raw(url: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def pg_store(run: Run, postgres_database: str) -> Iterator[Store]:
    store = PostgresStore(postgres_database, keys=TEST_KEYS)
    run(store.open())
    yield store
    run(store.close())


def new_message(app: Application, **fields: Any) -> Message:
    return Message(
        id=ids.new_id(ids.MESSAGE),
        app_key=app.key,
        event_type=fields.pop("event_type", "a"),
        payload=fields.pop("payload", b"{}"),
        created_at=fields.pop("created_at", now_ms()),
        **fields,
    )


async def app_with_endpoints(store: Store, endpoints: int = 1) -> Application:
    now = now_ms()
    app = await store.create_application(
        Application(id=ids.new_id(ids.APP), name="A", created_at=now, updated_at=now)
    )
    for _ in range(endpoints):
        await store.create_endpoint(
            Endpoint(
                id=ids.new_id(ids.ENDPOINT),
                app_key=app.key,
                url="https://example.com/",
                secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            )
        )
    return app


# migrations ---------------------------------------------------------------------
def test_concurrent_starters_apply_each_migration_once(
    run: Run, empty_postgres_database: str
) -> None:
    async def scenario() -> list[int]:
        stores = [PostgresStore(empty_postgres_database, keys=TEST_KEYS) for _ in range(5)]
        await asyncio.gather(*(store.open() for store in stores))
        await asyncio.gather(*(store.close() for store in stores))
        async with raw(empty_postgres_database) as conn:
            found = await conn.fetch("SELECT version FROM schema_migration ORDER BY version")
        return [row["version"] for row in found]

    assert run(scenario()) == [number for number, _, _ in migrate.available()]


def test_the_pool_size_setting_caps_the_connections(run: Run, postgres_database: str) -> None:
    store = open_store(postgres_database, pool_size=3, keys=TEST_KEYS)
    run(store.open())
    try:
        assert isinstance(store, PostgresStore)
        assert store._pool.get_max_size() == 3
    finally:
        run(store.close())


def test_endpoint_columns_match_the_parameters_written() -> None:
    endpoint = Endpoint(id="ep_x", app_key=1, url="https://example.com/", secret="whsec_x")
    assert tuple(rows.endpoint_params(endpoint, TEST_KEYS)) == rows.ENDPOINT_FIELDS


# the claim ----------------------------------------------------------------------
def test_connections_never_compile_statements_with_jit(run: Run, pg_store: Store) -> None:
    # The claim's estimated cost passes jit_above_cost once the queue is large; then
    # compiling it took about ten times as long as running it.
    assert isinstance(pg_store, PostgresStore)
    assert run(pg_store._fetchval("SHOW jit")) == "off"


def test_claim_is_served_by_the_partial_due_index(run: Run, postgres_database: str) -> None:
    async def scenario() -> tuple[str, str, int]:
        async with opened(postgres_database) as store, raw(postgres_database) as conn:
            app = await app_with_endpoints(store)
            endpoint_key = await conn.fetchval("SELECT key FROM endpoint")
            # A queue that has run a while: 5,000 deliveries, nine in ten long done.
            await conn.execute(
                "INSERT INTO message (id, app_key, event_type, payload, created_at) "
                "SELECT 'msg_' || n, $1, 'a', '\\x7b7d'::bytea, n "
                "FROM generate_series(1, 5000) AS n",
                app.key,
            )
            await conn.execute(
                "INSERT INTO delivery (app_key, msg_key, endpoint_key, status, due_at, "
                "updated_at) SELECT $1, key, $2, CASE WHEN key % 10 = 0 THEN 1 ELSE 0 END, "
                "created_at, created_at FROM message",
                app.key,
                endpoint_key,
            )
            await conn.execute(
                "INSERT INTO lane (endpoint_key, next_check) VALUES ($1, 0)", endpoint_key
            )
            await conn.execute("ANALYZE")
            now = now_ms()
            inner = await conn.fetch("EXPLAIN " + claim.PICK, now, endpoint_key, 256)
            whole = await conn.fetch("EXPLAIN " + claim.CLAIM, now, 256, 1, now, [], [], now)
            claimed = await store.claim_due(256, 60_000)
        plan = lambda found: "\n".join(row[0] for row in found)  # noqa: E731
        return plan(inner), plan(whole), len(claimed)

    inner, whole, claimed = run(scenario())
    assert "delivery_lane" in inner, inner
    assert "delivery_lane" in whole, whole
    assert claimed == 256


# race-safety across connections ------------------------------------------------
def test_concurrent_creates_with_one_idempotency_key_make_one_message(
    run: Run, postgres_database: str
) -> None:
    async def scenario() -> tuple[list[CreatedMessage | BaseException], int, int]:
        async with opened(postgres_database, min_connections=20, max_connections=20) as store:
            app = await app_with_endpoints(store, endpoints=2)
            key = Idempotency("same-key", "fingerprint")
            outcomes = await asyncio.gather(
                *(store.create_message(app, new_message(app), key) for _ in range(20)),
                return_exceptions=True,
            )
            async with raw(postgres_database) as conn:
                messages = await conn.fetchval("SELECT count(*) FROM message")
                deliveries = await conn.fetchval("SELECT count(*) FROM delivery")
        return outcomes, messages, deliveries

    outcomes, messages, deliveries = run(scenario())
    assert (messages, deliveries) == (1, 2)
    created = [item for item in outcomes if isinstance(item, CreatedMessage)]
    # Requests that find the key in flight are refused (409), never duplicated.
    assert all(isinstance(item, (CreatedMessage, Conflict)) for item in outcomes), outcomes
    in_flight = {str(item) for item in outcomes if isinstance(item, Conflict)}
    assert in_flight <= {"the idempotency-key is in use by a request still in progress"}
    assert sum(item.created for item in created) == 1
    assert {item.message.id for item in created} == {created[0].message.id}
    assert {item.deliveries for item in created} == {2}


def test_concurrent_creates_with_other_fingerprints_are_rejected(
    run: Run, postgres_database: str
) -> None:
    async def scenario() -> list[CreatedMessage | BaseException]:
        async with opened(postgres_database, min_connections=20, max_connections=20) as store:
            app = await app_with_endpoints(store)
            keys = [Idempotency("same-key", f"fingerprint-{n % 2}") for n in range(20)]
            return await asyncio.gather(
                *(store.create_message(app, new_message(app), key) for key in keys),
                return_exceptions=True,
            )

    outcomes = run(scenario())
    created = [item for item in outcomes if isinstance(item, CreatedMessage)]
    rejected = [item for item in outcomes if isinstance(item, InvalidInput)]
    in_flight = [item for item in outcomes if isinstance(item, Conflict)]
    assert len(created) + len(rejected) + len(in_flight) == 20, outcomes
    assert sum(item.created for item in created) == 1
    # Whoever got past the in-flight check was answered by the fingerprint it sent.
    assert {item.message.id for item in created} == {created[0].message.id}


def test_concurrent_messages_with_one_event_id_make_one_message(
    run: Run, postgres_database: str
) -> None:
    async def scenario() -> list[CreatedMessage | BaseException]:
        async with opened(postgres_database, min_connections=10, max_connections=10) as store:
            app = await app_with_endpoints(store)
            return await asyncio.gather(
                *(
                    store.create_message(app, new_message(app, event_id="evt-1"), None)
                    for _ in range(10)
                ),
                return_exceptions=True,
            )

    outcomes = run(scenario())
    assert sum(isinstance(item, CreatedMessage) for item in outcomes) == 1
    assert sum(isinstance(item, Conflict) for item in outcomes) == 9


def test_workers_claim_every_delivery_once_while_messages_arrive(
    run: Run, postgres_database: str
) -> None:
    """Three workers and two producers, as separate processes would be: no delivery
    is claimed twice, and none is stranded behind a lane settled too early."""
    per_app, apps_count = 150, 3

    async def produce(store: Store, apps: list[Application]) -> None:
        for _ in range(per_app // 2):
            for app in apps:
                await store.create_message(app, new_message(app), None)

    async def work(store: Store, seen: list[int], producing: asyncio.Task[Any]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(seen) < per_app * apps_count and loop.time() < deadline:
            claimed = await store.claim_due(20, 60_000)
            seen.extend(item.delivery_key for item in claimed)
            await store.record_attempts([result(item, ok=True) for item in claimed], DAY)
            if not claimed:
                await asyncio.sleep(0.01 if producing.done() else 0)

    async def watch(conn: Any, broken: list[int], working: asyncio.Future[Any]) -> None:
        # In every committed state, a queued delivery's lane is due no later than it.
        while not working.done():
            broken.append(await conn.fetchval(STRANDED))
            await asyncio.sleep(0.005)

    async def scenario() -> tuple[list[int], list[int], int | None]:
        async with contextlib.AsyncExitStack() as stack:
            stores = [await stack.enter_async_context(opened(postgres_database)) for _ in range(5)]
            conn = await stack.enter_async_context(raw(postgres_database))
            apps = [await app_with_endpoints(stores[0]) for _ in range(apps_count)]
            producing = asyncio.gather(*(produce(store, apps) for store in stores[:2]))
            seen: list[int] = []
            broken: list[int] = []
            working = asyncio.gather(producing, *(work(s, seen, producing) for s in stores[2:]))
            await asyncio.gather(working, watch(conn, broken, working))
            # A lane may be left early, by design: a settle skips a lane whose wake is
            # still in flight, and another store's settle may not have committed yet.
            # Early is safe (it costs one empty claim, which settles it), so the check
            # is that an idle worker's next claim leaves every lane telling the truth.
            assert await stores[2].claim_due(20, 60_000) == []
            return seen, broken, await stores[2].next_due_at()

    seen, broken, next_due = run(scenario())
    assert len(seen) == len(set(seen)) == per_app * apps_count
    assert set(broken) == {0}
    # Lanes settle to the last leases' expiry (as on SQLite), not to "due now".
    assert next_due is None or next_due > now_ms() + 50_000


TRACE_CONTEXT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_one_call_create_writes_only_for_the_endpoints_version_it_was_given(
    run: Run, pg_store: Store, postgres_database: str
) -> None:
    """Migration 0008's function (0012's, with the trace context): a stale endpoints
    version (or another application) writes nothing; the current one writes the
    message with its trace context, its deliveries and lanes that are due no later
    than they are, creating or lowering them."""
    create = "SELECT tidings_create_message(" + ", ".join(f"${n}" for n in range(1, 19)) + ")"

    async def scenario() -> tuple[list[Any], list[Any], int]:
        app = await app_with_endpoints(pg_store, endpoints=2)
        async with raw(postgres_database) as conn:
            version = await conn.fetchval(
                "SELECT endpoints_version FROM application WHERE key = $1", app.key
            )
            endpoints = [
                row["key"]
                for row in await conn.fetch(
                    "SELECT key FROM endpoint WHERE app_key = $1 ORDER BY key", app.key
                )
            ]
            # One lane exists and is later than the new message; the other is missing.
            created_at = now_ms()
            await conn.execute(
                "INSERT INTO lane (endpoint_key, next_check) VALUES ($1, $2)",
                endpoints[0],
                created_at + 60_000,
            )

            def args(version: int, app_id: str = app.id) -> list[Any]:
                return [
                    ids.new_id(ids.MESSAGE),
                    app.key,
                    app_id,
                    app.uid,
                    version,
                    "a",
                    None,
                    b"{}",
                    None,
                    None,
                    created_at,
                    endpoints,
                    None,
                    None,
                    0,
                    [1, 2, lanes.LANE_LOCK_SPACE],
                    None,
                    TRACE_CONTEXT,
                ]

            refused = [
                await conn.fetchval(create, *args(version + 1)),
                await conn.fetchval(create, *args(version, "app_other")),
            ]
            before = await conn.fetchval("SELECT count(*) FROM message")
            key = await conn.fetchval(create, *args(version))
            queued = [
                tuple(row)
                for row in await conn.fetch(
                    "SELECT endpoint_key, status, due_at FROM delivery WHERE msg_key = $1 "
                    "ORDER BY endpoint_key",
                    key,
                )
            ]
            lanes_now = [
                tuple(row)
                for row in await conn.fetch(
                    "SELECT endpoint_key, next_check FROM lane WHERE endpoint_key = ANY($1) "
                    "ORDER BY endpoint_key",
                    endpoints,
                )
            ]
            kept = await conn.fetchval("SELECT trace_context FROM message WHERE key = $1", key)
            return refused, [before, queued, lanes_now, endpoints, created_at, kept], key

    refused, (before, queued, lanes_now, endpoints, created_at, kept), key = run(scenario())
    assert refused == [None, None] and before == 0 and key is not None
    assert kept == TRACE_CONTEXT
    pending = int(DeliveryStatus.PENDING)
    assert queued == [(endpoint, pending, created_at) for endpoint in endpoints]
    assert lanes_now == [(endpoint, created_at) for endpoint in endpoints]


def test_messages_follow_endpoint_changes_made_by_another_process(
    run: Run, postgres_database: str
) -> None:
    """The one-call create uses the endpoints this process keeps only while their
    version is current: an endpoint added through another store is fanned out to
    from the next message on."""

    async def scenario() -> list[int]:
        async with opened(postgres_database) as api, opened(postgres_database) as other:
            app = await app_with_endpoints(api)
            counts = [
                (await api.create_message(app, new_message(app), None)).deliveries for _ in range(2)
            ]
            secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
            added = Endpoint(
                id=ids.new_id(ids.ENDPOINT),
                app_key=app.key,
                url="https://example.com/b",
                secret=secret,
            )
            await other.create_endpoint(added)
            for _ in range(2):
                created = await api.create_message(app, new_message(app), None)
                counts.append(created.deliveries)
            return counts

    assert run(scenario()) == [1, 1, 2, 2]


def test_a_lane_waits_for_its_earliest_retry(run: Run, pg_store: Store) -> None:
    app = make_app(run, pg_store)
    make_endpoint(run, pg_store, app)
    send(run, pg_store, app)
    (claimed,) = run(pg_store.claim_due(10, 600_000))
    retry_at = now_ms() + 60_000
    run(pg_store.record_attempts([result(claimed, ok=False, retry_at=retry_at)], DAY))
    assert run(pg_store.next_due_at()) == retry_at
    assert run(pg_store.claim_due(10, 60_000)) == []


# wake-ups -------------------------------------------------------------------------
def test_a_waiting_worker_wakes_when_another_process_queues_work(
    run: Run, postgres_database: str
) -> None:
    """Woken by the other process's NOTIFY: the wait asked for 30 s and ends within 5 s
    (how promptly is the benchmarks' `pg_e2e_p50_ms`, not a clock in a test)."""

    async def scenario() -> None:
        async with opened(postgres_database) as waiter, opened(postgres_database) as sender:
            app = await app_with_endpoints(sender)
            await waiter.wait_for_work(0.2)  # the first wait opens the LISTEN connection
            waiting = asyncio.create_task(waiter.wait_for_work(30))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            await sender.create_message(app, new_message(app), None)
            await asyncio.wait_for(waiting, 5)

    run(scenario())


def test_only_messages_with_deliveries_notify(run: Run, postgres_database: str) -> None:
    async def scenario() -> list[str]:
        heard: list[str] = []
        async with opened(postgres_database) as store, raw(postgres_database) as listener:
            await listener.add_listener(CHANNEL, lambda *args: heard.append(args[2]))
            nobody = await app_with_endpoints(store, endpoints=0)
            await store.create_message(nobody, new_message(nobody), None)
            await asyncio.sleep(0.3)
            assert heard == []
            somebody = await app_with_endpoints(store)
            await store.create_message(somebody, new_message(somebody), None)
            for _ in range(100):
                if heard:
                    break
                await asyncio.sleep(0.02)
        return heard

    assert run(scenario()) == [CHANNEL]


def test_announcements_follow_commits_at_most_once_per_interval(run: Run) -> None:
    """The first commit is announced at once; the commits of the next interval share
    one announcement at its end; rolled-back or workless transactions announce nothing."""

    async def scenario() -> list[int]:
        sent: list[float] = []

        async def send() -> None:
            sent.append(asyncio.get_running_loop().time())

        announcer = Announcer(send, interval=1.0)
        counts = []
        first, second, third, rolled_back, idle = (object() for _ in range(5))
        announcer.owe(first)
        announcer.committed(first)
        await asyncio.sleep(0.05)
        counts.append(len(sent))  # 1: at once
        for conn in (second, third):
            announcer.owe(conn)
            announcer.committed(conn)
        announcer.owe(rolled_back)
        announcer.forget(rolled_back)
        announcer.committed(rolled_back)
        announcer.committed(idle)
        await asyncio.sleep(0.1)
        counts.append(len(sent))  # still 1: the interval has not ended
        await asyncio.sleep(1.2)
        counts.append(len(sent))  # 2: one for both commits of the interval
        announcer.committed(second)  # already announced: nothing more
        await announcer.close()
        counts.append(len(sent))
        assert sent[1] - sent[0] >= 0.99
        return counts

    assert run(scenario()) == [1, 1, 2, 2]


def test_one_announcement_at_a_time_however_slow_the_server(run: Run) -> None:
    """Commits keep coming while a NOTIFY is held up: never two in flight (each would
    hold a pooled connection), and the commits made meanwhile are announced by exactly
    one more once it returns."""

    async def scenario() -> tuple[int, int, int]:
        in_flight = most = sent = 0
        started, answering, second_sent = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def send() -> None:
            nonlocal in_flight, most, sent
            in_flight += 1
            most = max(most, in_flight)
            started.set()
            await answering.wait()  # the server holds every NOTIFY until told to answer
            in_flight -= 1
            sent += 1
            if sent == 2:
                second_sent.set()

        announcer = Announcer(send, interval=0.001)
        announcer.queued()
        await started.wait()
        for _ in range(30):
            announcer.queued()
            await asyncio.sleep(0.002)  # past the interval: each commit could start a send
        during = sent
        answering.set()
        await asyncio.wait_for(second_sent.wait(), 5)
        await announcer.close()  # nothing is left pending, so nothing more is sent
        return most, during, sent

    assert run(scenario()) == (1, 0, 2)


def test_a_create_carries_the_notify_only_on_this_process_turn(run: Run) -> None:
    """`take_turn` (a NOTIFY inside the create's own commit) is granted once per
    interval, and never while a separate announcement is pending or in flight."""

    async def scenario() -> list[bool]:
        clock = [100.0]
        sent: list[float] = []

        async def send() -> None:
            sent.append(clock[0])

        announcer = Announcer(send, interval=1.0, clock=lambda: clock[0])
        turns = [announcer.take_turn(), announcer.take_turn()]  # the same instant
        clock[0] += 1.5
        announcer.queued()  # due at once: a separate NOTIFY is pending
        turns.append(announcer.take_turn())
        await asyncio.sleep(0.01)  # sent
        clock[0] += 1.5
        turns.append(announcer.take_turn())
        await announcer.close()
        turns.append(announcer.take_turn())  # closed
        return turns

    assert run(scenario()) == [True, False, False, True, False]


def test_a_commit_right_after_an_announcement_is_announced_too(
    run: Run, postgres_database: str
) -> None:
    """Two messages in quick succession: each reaches a listener as a notification,
    the second within the interval rather than at the workers' next poll."""

    async def scenario() -> int:
        heard: list[str] = []
        async with opened(postgres_database) as store, raw(postgres_database) as listener:
            await listener.add_listener(CHANNEL, lambda *args: heard.append(args[2]))
            app = await app_with_endpoints(store)
            await store.create_message(app, new_message(app), None)
            await store.create_message(app, new_message(app), None)
            for _ in range(100):
                if len(heard) >= 2:
                    break
                await asyncio.sleep(0.02)
        return len(heard)

    assert run(scenario()) == 2


# failures ---------------------------------------------------------------------------
class Relay:
    """A TCP relay to PostgreSQL that a test takes down and brings back, as the
    network sees a server restart, without touching the shared server."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", POSTGRES_PORT)
        self._writers |= {writer, upstream}
        try:
            await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        finally:
            self._writers -= {writer, upstream}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.transport.abort()


def test_the_store_recovers_when_the_server_comes_back(run: Run, postgres_database: str) -> None:
    database = postgres_database.rsplit("/", 1)[1]

    async def scenario() -> None:
        relay = Relay()
        await relay.start()
        url = f"postgresql://postgres@127.0.0.1:{relay.port}/{database}"
        async with opened(url) as store, opened(postgres_database) as sender:
            app = await app_with_endpoints(store)
            await store.wait_for_work(0.2)  # LISTENing, through the relay
            await _fail_in_flight_then_while_down(store, relay, postgres_database, app)
            await store.wait_for_work(0.05)  # no LISTEN connection: polls, does not raise
            await relay.start()
            assert (await store.get_application(app.id)) == app
            await store.wait_for_work(2)  # reconnects LISTEN (and wakes once, to be safe)
            waiting = asyncio.create_task(store.wait_for_work(30))
            await asyncio.sleep(0.05)
            await sender.create_message(app, new_message(app), None)
            await asyncio.wait_for(waiting, 5)
        await relay.stop()

    run(scenario())


async def _fail_in_flight_then_while_down(
    store: Store, relay: Relay, direct_url: str, app: Application
) -> None:
    async with raw(direct_url) as blocker, blocker.transaction():
        # Hold a lock so the store's next read is in flight when the server goes.
        await blocker.execute("LOCK TABLE application IN ACCESS EXCLUSIVE MODE")
        reading = asyncio.create_task(store.get_application(app.id))
        await asyncio.sleep(0.2)
        await relay.stop()
        with pytest.raises(StorageUnavailable):
            await reading
    with pytest.raises(StorageUnavailable):
        await store.get_application(app.id)


def test_an_unreachable_server_is_storage_unavailable(run: Run) -> None:
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", keys=TEST_KEYS)
    with pytest.raises(StorageUnavailable):
        run(store.ping())  # not open
    with pytest.raises(StorageUnavailable):
        run(store.open())
    run(store.close())


def test_text_postgresql_cannot_hold_is_invalid_input(run: Run, pg_store: Store) -> None:
    now = now_ms()
    for app in (
        Application(id=ids.new_id(ids.APP), name="nul\x00", created_at=now, updated_at=now),
        Application(id=ids.new_id(ids.APP), name="A", metadata={"k": "\x00"}, created_at=now),
    ):
        with pytest.raises(InvalidInput):
            run(pg_store.create_application(app))
