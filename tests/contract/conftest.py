"""One behaviour suite for every storage backend.

The `store` fixture is parametrized over the backends; each test gets a fresh
database. Tests call `run(store.method(...))` on the fixture's own event loop.
PostgreSQL databases come from tests/postgres.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Re-exported for the PostgreSQL-only tests, which import them from here.
from tests.keys import TEST_KEYS
from tests.postgres import ADMIN_URL, REQUIRE_POSTGRES, admin, postgres_url  # noqa: F401
from tidings.storage import Store, open_store

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_database")
        return url
    raise AssertionError(request.param)


@pytest.fixture(params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, run: Callable[[Awaitable[Any]], Any]
) -> Iterator[Store]:
    opened = open_store(database_url(request, tmp_path), keys=TEST_KEYS)
    run(opened.open())
    yield opened
    run(opened.close())
