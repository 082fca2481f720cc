"""/livez and /readyz: what makes a process unready, on the real server and worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.harness import ServerProcess
from tests.integration.operations.conftest import Start
from tests.integration.postgres_support import private_cluster
from tests.keys import TEST_KEYS
from tests.waiting import eventually
from tidings.api.app import create_app
from tidings.config import Settings
from tidings.delivery.guard import AddressPolicy
from tidings.delivery.worker import Worker, WorkerOptions
from tidings.serve.probe_port import claiming_check
from tidings.storage import open_store
from tidings.testing import free_port


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=3)
    except httpx.TransportError:
        return None


def _status(url: str) -> int:
    answer = _get(url)
    return 0 if answer is None else answer.status_code


def test_the_api_and_serve_are_ready_once_serving(start: Start) -> None:
    server = start()  # serve: the API and a worker in one process
    ready = httpx.get(f"{server.url}/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    live = httpx.get(f"{server.url}/livez")
    assert (live.status_code, live.json()) == (200, {"status": "live"})


def test_unready_while_a_migration_of_this_release_is_missing(start: Start) -> None:
    """As after restoring an older backup under a running server: its schema lacks
    what this release needs, and the probe says which."""
    server = start("api")
    (latest,) = server.query("SELECT max(version) FROM schema_migration")[0]
    (name,) = server.query(f"SELECT name FROM schema_migration WHERE version = {latest}")[0]
    delete = f"DELETE FROM schema_migration WHERE version = {latest}"
    if server.database_url.startswith("sqlite"):
        server.query(delete)
    else:
        server.query(delete + " RETURNING version")
    answer = httpx.get(f"{server.url}/readyz")
    assert answer.status_code == 503
    assert answer.json()["failed"] == {"migrations": "not applied: " + name.removesuffix(".sql")}


def test_a_worker_is_unready_while_its_database_is_down(tmp_path: Path) -> None:
    with private_cluster() as cluster:
        port = free_port()
        worker = ServerProcess(
            tmp_path, "worker", database_url=cluster.url(), metrics_port=str(port)
        ).start()
        probes = f"http://127.0.0.1:{port}"
        assert eventually(lambda: _status(f"{probes}/readyz"), lambda s: s == 200) == 200
        cluster.stop()
        down = eventually(
            lambda: _get(f"{probes}/readyz"), lambda a: a is not None and a.status_code == 503
        )
        assert down is not None and down.status_code == 503
        assert down.json()["status"] == "unready"
        assert "database" in down.json()["failed"]
        assert httpx.get(f"{probes}/livez").status_code == 200  # alive, only unready
        cluster.start()
        assert eventually(lambda: _status(f"{probes}/readyz"), lambda s: s == 200, 30) == 200
        worker.stop()


def test_readiness_waits_for_the_claiming_loop(tmp_path: Path) -> None:
    """In one process, /readyz says unready until the worker claims, and names why."""

    async def scenario() -> None:
        store = open_store(f"sqlite:///{tmp_path / 'ready.db'}", keys=TEST_KEYS)
        await store.open()
        settings = Settings(admin_token="probe_" + "t" * 32)
        worker = Worker(
            store,
            WorkerOptions((0.0,), 5.0, 8, AddressPolicy.from_setting("", allow_loopback=False)),
        )
        app = create_app(store, settings, readiness={"claiming": claiming_check(worker, settings)})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            before = await http.get("/readyz")
            assert before.status_code == 503
            assert "claiming loop" in before.json()["failed"]["claiming"]
            stopping = asyncio.Event()
            running = asyncio.create_task(worker.run(stopping))
            for _ in range(100):
                if (await http.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.02)
            assert (await http.get("/readyz")).json() == {"status": "ready"}
            app.services.stopping.set()  # what a stopping server does first
            stopped = await http.get("/readyz")
            assert (stopped.status_code, stopped.json()["failed"]) == (503, {"process": "stopping"})
            stopping.set()
            await running
        await store.close()

    asyncio.run(scenario())
