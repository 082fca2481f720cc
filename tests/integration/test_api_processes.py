"""`tidings api --api-processes N` (and `serve`): several HTTP processes on one port and
one SQLite file."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.harness import ServerProcess
from tests.integration.ingest.test_actions import github, github_config, ingest_url
from tests.waiting import eventually

MESSAGES = 300


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return sorted(int(child) for child in listing.read().split())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def api(tmp_path: Path) -> ServerProcess:
    server = ServerProcess(tmp_path, "api", api_processes="2").start()
    assert server.process is not None
    serving = eventually(server.output, lambda text: text.count("serving") == 2, timeout=60)
    assert serving.count("serving") == 2, serving
    assert len(children(server.process.pid)) == 2
    return server


def test_two_processes_accept_concurrent_messages_into_one_database(api: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {api.token}"}
    with httpx.Client(base_url=api.url, headers=auth, timeout=30) as http:
        assert http.post("/api/v1/app", json={"name": "shop", "uid": "shop"}).status_code == 201
        endpoint = {"url": "https://example.com/hook", "uid": "hook"}
        assert http.post("/api/v1/app/shop/endpoint", json=endpoint).status_code == 201

    def send(number: int) -> int:
        # A connection each, so the kernel spreads them over both processes.
        with httpx.Client(base_url=api.url, headers=auth, timeout=30) as own:
            body = {"eventType": "order.paid", "payload": {"n": number}}
            return own.post("/api/v1/app/shop/msg", json=body).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, range(MESSAGES)))
    assert statuses == [202] * MESSAGES

    with httpx.Client(base_url=api.url, headers=auth, timeout=30) as http:
        listed = http.get("/api/v1/app/shop/msg", params={"limit": 250}).json()
        seen = {m["payload"]["n"] for m in listed["data"]}
        iterator = listed["iterator"]
        while not listed["done"]:
            listed = http.get(
                "/api/v1/app/shop/msg", params={"limit": 250, "iterator": iterator}
            ).json()
            seen |= {m["payload"]["n"] for m in listed["data"]}
            iterator = listed["iterator"]
    assert seen == set(range(MESSAGES))


def test_a_killed_process_is_replaced_and_serving_goes_on(api: ServerProcess) -> None:
    assert api.process is not None
    first, second = children(api.process.pid)
    os.kill(first, signal.SIGKILL)
    pid = api.process.pid
    now = eventually(lambda: children(pid), lambda kids: len(kids) == 2 and first not in kids)
    assert len(now) == 2 and first not in now and second in now
    replaced = eventually(api.output, lambda text: text.count("serving") == 3)
    assert replaced.count("serving") == 3, replaced
    assert f"API process {first} exited with -9" in api.output()
    for _ in range(20):  # every request finds a live process behind the port
        assert httpx.get(f"{api.url}/api/v1/health", timeout=10).status_code == 204


def test_sigterm_stops_every_process_cleanly(api: ServerProcess) -> None:
    assert api.process is not None
    kids = children(api.process.pid)
    assert api.stop() == 0
    assert not any(alive(kid) for kid in kids)
    assert api.output().count("API stopped") == 3  # both processes, then the parent


def test_processes_stop_when_their_parent_is_killed(api: ServerProcess) -> None:
    assert api.process is not None
    kids = children(api.process.pid)
    api.kill()
    assert eventually(lambda: [kid for kid in kids if alive(kid)], lambda left: not left) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{api.url}/api/v1/health", timeout=5)


def test_an_ipv6_host_is_served_by_every_process(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "api", api_processes="2", host="::1")
    server.url = f"http://[::1]:{server.port}"
    server.start()
    try:
        serving = eventually(server.output, lambda text: text.count("serving") == 2, timeout=60)
        assert serving.count("serving") == 2, serving
        assert httpx.get(f"{server.url}/api/v1/health", timeout=10).status_code == 204
    finally:
        assert server.stop() == 0


def test_an_in_memory_database_is_refused(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "api", api_processes="2", database_url="sqlite:///:memory:")
    with pytest.raises(RuntimeError, match="in-memory database cannot be shared"):
        server.start()


def test_the_count_is_checked(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "api", api_processes="0")
    with pytest.raises(RuntimeError, match="TIDINGS_API_PROCESSES='0': expected 1 to 64"):
        server.start()


def test_serve_with_processes_runs_api_processes_and_a_worker_below_them(tmp_path: Path) -> None:
    """`tidings serve --api-processes 2`: two API processes and a worker process in
    one session, the worker at its lower nice value; a received event runs its
    action, and SIGTERM stops them all."""
    ran = tmp_path / "ran.log"
    config = tmp_path / "tidings.toml"
    config.write_text(
        github_config(
            "deploys",
            f"""\
            [[source.action]]
            name = "record"
            command = ["/bin/sh", "-c", "echo ran >> {ran}"]
        """,
        )
    )
    server = ServerProcess(tmp_path, "serve", api_processes="2", config=str(config)).start()
    assert server.process is not None
    try:
        serving = eventually(server.output, lambda text: text.count("serving") == 2, timeout=60)
        assert serving.count("serving") == 2, serving
        kids = children(server.process.pid)
        commands = {kid: Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0") for kid in kids}
        workers = [kid for kid, argv in commands.items() if b"worker" in argv]
        assert len(kids) == 3 and len(workers) == 1, commands
        assert os.getpriority(os.PRIO_PROCESS, workers[0]) == 10  # TIDINGS_WORKER_NICE
        assert os.getsid(workers[0]) == os.getsid(server.process.pid)
        answer = github(ingest_url(server, "deploys"), {"ref": "refs/heads/main"}, "d-1")
        assert answer.status_code == 200, answer.text
        assert eventually(lambda: ran.exists() and ran.read_text(), bool) == "ran\n"
    finally:
        assert server.stop() == 0
    assert not any(alive(kid) for kid in kids)
