from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from svix.api import Svix, SvixAsync, SvixOptions

from tests.harness import ServerProcess, stop_leftovers
from tidings.testing import Receiver


@pytest.fixture(autouse=True)
def _no_tidings_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what a test passes, never from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("TIDINGS_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _no_leftover_servers() -> Iterator[None]:
    yield
    stop_leftovers()


# PostgreSQL databases for the tests that use them.
pytest_plugins = ["tests.postgres"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """The real server as a subprocess, over a fresh SQLite file or PostgreSQL database:
    every API test runs on both backends."""
    settings = {}
    if request.param == "postgres":
        settings["database_url"] = request.getfixturevalue("postgres_database")
    process = ServerProcess(tmp_path, **settings).start()
    yield process
    process.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def sdk(server: ServerProcess) -> Svix:
    return Svix(server.token, SvixOptions(server_url=server.url))


@contextlib.asynccontextmanager
async def async_sdk(server: ServerProcess) -> AsyncIterator[SvixAsync]:
    """An async SDK client bound to the running loop; use inside `asyncio.run`."""
    client = SvixAsync(server.token, SvixOptions(server_url=server.url))
    try:
        yield client
    finally:
        await client._httpx_client.aclose()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Svix]:
    made = sdk(server)
    yield made
    made._httpx_client.close()
