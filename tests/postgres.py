"""PostgreSQL databases for tests, as a pytest plugin (see tests/conftest.py).

Tests use the server at ADMIN_URL (TIDINGS_TEST_POSTGRES_URL, by default the local
server's maintenance database). Each gets its own database, copied from a template
migrated once per session, and dropped afterwards. When the server cannot be
reached they skip, saying why, unless TIDINGS_TEST_REQUIRE_POSTGRES=1 (as in CI),
which makes them fail instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.keys import TEST_KEYS
from tidings.storage import open_store

T = TypeVar("T")
Runner = Callable[[Awaitable[T]], T]

# Both read at import: the autouse fixture in tests/conftest.py removes TIDINGS_*
# variables before each test runs.
ADMIN_URL = os.environ.get(
    "TIDINGS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("TIDINGS_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[[Awaitable[Any]], Any]:
    return loop.run_until_complete


def postgres_url(database: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + database


async def admin(sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the server's maintenance database."""
    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _create_template(name: str) -> None:
    await admin(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        store = open_store(postgres_url(name), keys=TEST_KEYS)
        await store.open()
        await store.close()
    except BaseException:
        await admin(f"DROP DATABASE {name} WITH (FORCE)")
        raise


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A database with every migration applied, to copy for each test."""
    name = f"tidings_template_{secrets.token_hex(6)}"
    try:
        asyncio.run(_create_template(name))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = f"PostgreSQL is not reachable at {ADMIN_URL}: {exc!r}"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason} (TIDINGS_TEST_REQUIRE_POSTGRES=1)")
        pytest.skip(f"{reason}; set TIDINGS_TEST_REQUIRE_POSTGRES=1 to fail instead")
    yield name
    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _fresh_database(run: Runner[Any], template: str) -> Iterator[str]:
    name = f"tidings_test_{secrets.token_hex(6)}"
    run(admin(f"CREATE DATABASE {name} TEMPLATE {template}"))
    yield postgres_url(name)
    # FORCE: a test that failed halfway may have left connections open.
    run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def postgres_database(run: Runner[Any], postgres_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated database, dropped after the test."""
    yield from _fresh_database(run, postgres_template)


@pytest.fixture
def empty_postgres_database(run: Runner[Any], postgres_template: str) -> Iterator[str]:
    """The URL of a fresh database with no schema at all (for migration tests)."""
    yield from _fresh_database(run, "template0")
