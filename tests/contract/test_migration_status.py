"""The schema's migration status on every backend: read on an open store and before
one is opened, without applying anything, and what `open()` changes in it."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.contract.conftest import BACKENDS, database_url
from tests.keys import TEST_KEYS
from tidings.storage import MigrationStatus, Store, open_store
from tidings.storage.postgres import migrate as postgres_migrate
from tidings.storage.sqlite import migrate as sqlite_migrate

Run = Callable[[Awaitable[Any]], Any]


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database no migration has touched: a SQLite file not yet made, or an
    empty PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh' / 'tidings.db'}"
    url: str = request.getfixturevalue("empty_postgres_database")
    return url


@pytest.fixture(params=BACKENDS)
def migrated(
    request: pytest.FixtureRequest, tmp_path: Path, run: Run
) -> Iterator[tuple[str, Store]]:
    """An open store, and its database's URL for changes made from outside."""
    url = database_url(request, tmp_path)
    store = opened(run, url)
    yield url, store
    run(store.close())


def known(url: str) -> tuple[str, ...]:
    """This release's migrations of the backend of `url`, by name."""
    module = sqlite_migrate if url.startswith("sqlite") else postgres_migrate
    return tuple(name.removesuffix(".sql") for _, name, _ in module.available())


def execute(run: Run, url: str, sql: str) -> Any:
    """Run one statement on its own connection, as another program would."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            return conn.execute(sql).fetchall()

    async def on_postgres() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    return run(on_postgres())


def opened(run: Run, url: str) -> Store:
    store = open_store(url, keys=TEST_KEYS)
    run(store.open())
    return store


def status_before_opening(run: Run, url: str) -> MigrationStatus:
    result: MigrationStatus = run(open_store(url, keys=TEST_KEYS).migration_status())
    return result


def test_an_open_store_has_every_migration_applied(run: Run, migrated: tuple[str, Store]) -> None:
    url, store = migrated
    status = run(store.migration_status())
    assert status == MigrationStatus(applied=known(url), pending=())
    assert status.applied and status.current


def test_a_database_never_migrated_has_everything_pending_and_stays_untouched(
    run: Run, fresh_url: str
) -> None:
    status = status_before_opening(run, fresh_url)
    assert status == MigrationStatus(applied=(), pending=known(fresh_url))
    assert not status.current
    if fresh_url.startswith("sqlite:///"):  # not even its folder was made
        assert not Path(fresh_url.removeprefix("sqlite:///")).parent.exists()
    else:
        tables = "SELECT 1 FROM pg_tables WHERE tablename = 'schema_migration'"
        assert execute(run, fresh_url, tables) == []
    store = opened(run, fresh_url)
    try:
        assert run(store.migration_status()) == MigrationStatus(known(fresh_url), ())
    finally:
        run(store.close())
    assert status_before_opening(run, fresh_url).current  # and read from outside


def test_a_missing_migration_is_pending_and_reading_applies_nothing(
    run: Run, fresh_url: str
) -> None:
    run(opened(run, fresh_url).close())
    *first, last = known(fresh_url)
    execute(run, fresh_url, f"DELETE FROM schema_migration WHERE version = {_version(last)}")
    assert status_before_opening(run, fresh_url) == MigrationStatus(tuple(first), (last,))
    assert execute(run, fresh_url, "SELECT count(*) FROM schema_migration")[0][0] == len(first)


def test_an_open_store_reads_the_status_afresh_each_time(
    run: Run, migrated: tuple[str, Store]
) -> None:
    url, store = migrated
    names = run(store.migration_status()).applied
    execute(run, url, f"DELETE FROM schema_migration WHERE version = {_version(names[-1])}")
    assert run(store.migration_status()) == MigrationStatus(names[:-1], names[-1:])


def test_a_newer_releases_migration_counts_as_applied_and_leaves_it_current(
    run: Run, migrated: tuple[str, Store]
) -> None:
    url, store = migrated
    before = run(store.migration_status())
    execute(
        run,
        url,
        "INSERT INTO schema_migration (version, name, applied_at) "
        "VALUES (9999, '9999_later.sql', 0)",
    )
    after = run(store.migration_status())
    assert after == MigrationStatus((*before.applied, "9999_later"), ())
    assert after.current


def _version(name: str) -> int:
    return int(name.split("_", 1)[0])
