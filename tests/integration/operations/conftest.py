from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import ServerProcess

Start = Callable[..., ServerProcess]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def start(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Start]:
    """Start `tidings <command>` with settings, over a fresh SQLite file or PostgreSQL
    database that every process a test starts shares."""
    database: dict[str, str] = {}
    if request.param == "postgres":
        database["database_url"] = request.getfixturevalue("postgres_database")
    started: list[ServerProcess] = []

    def starting(command: str = "serve", **settings: str) -> ServerProcess:
        process = ServerProcess(tmp_path, command, **database, **settings)
        if started:  # one token and one database for every process of the test
            process.token = started[0].token
            process.settings["TIDINGS_ADMIN_TOKEN"] = started[0].token
            process.settings["TIDINGS_DATABASE_URL"] = started[0].database_url
            process.database_url = started[0].database_url
        started.append(process.start())
        return process

    yield starting
    for process in started:
        process.stop()


def api_client(server: ServerProcess) -> httpx.Client:
    auth = {"Authorization": f"Bearer {server.token}"}
    return httpx.Client(base_url=server.url, headers=auth, timeout=10)


def app_with_endpoints(server: ServerProcess, *urls: str, uid: str = "shop") -> list[str]:
    """An application `uid` with one endpoint per URL; the endpoints' ids."""
    with api_client(server) as http:
        assert http.post("/api/v1/app", json={"name": uid, "uid": uid}).status_code == 201
        made = [http.post(f"/api/v1/app/{uid}/endpoint", json={"url": url}) for url in urls]
    assert all(answer.status_code == 201 for answer in made), [a.text for a in made]
    return [answer.json()["id"] for answer in made]


def send(server: ServerProcess, count: int, uid: str = "shop", payload: object = None) -> list[str]:
    """`count` messages to application `uid`; their ids."""
    ids = []
    with api_client(server) as http:
        for number in range(count):
            body = {"eventType": "order.paid", "payload": payload or {"n": number}}
            answer = http.post(f"/api/v1/app/{uid}/msg", json=body)
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
    return ids
