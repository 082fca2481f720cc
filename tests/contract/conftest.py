"""One behaviour suite for every storage backend.

The `store` fixture is parametrized over the backends; each test gets a fresh
database. Tests call `run(store.method(...))` on the fixture's own event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tidings.storage import Store, open_store

T = TypeVar("T")
Runner = Callable[[Awaitable[T]], T]

BACKENDS = ["sqlite"]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[[Awaitable[Any]], Any]:
    return loop.run_until_complete


def database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    raise AssertionError(backend)


@pytest.fixture(params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, run: Callable[[Awaitable[Any]], Any]
) -> Iterator[Store]:
    opened = open_store(database_url(request.param, tmp_path))
    run(opened.open())
    yield opened
    run(opened.close())
