"""Secrets at rest on every backend: sealed when written, opened when read, sealed
again under a new key by rotation, and sealed on start when found in the clear."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import database_url
from tests.contract.test_sources import make_source
from tests.contract.test_store import make_app, make_endpoint
from tidings.domain.clock import now_ms
from tidings.domain.models import RetiredSecret
from tidings.storage import KeyRing, Store, open_store
from tidings.storage.sealing import PREFIX, SealingError, new_key

Run = Callable[[Awaitable[Any]], Any]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request, tmp_path)


def opened(run: Run, url: str, keys: KeyRing) -> Store:
    store = open_store(url, keys=keys)
    run(store.open())
    return store


def raw(run: Run, store: Store, sql: str) -> list[Any]:
    """Column values as stored, by the backend's own connection."""
    from tidings.storage.postgres.store import PostgresStore
    from tidings.storage.sqlite.store import SqliteStore

    if isinstance(store, SqliteStore):
        return [tuple(row) for row in store._rows(sql)]
    assert isinstance(store, PostgresStore)
    return [tuple(row) for row in run(store._fetch(sql))]


def populate(run: Run, store: Store) -> tuple[str, str]:
    """An endpoint with a retired secret and a credential header, and a source; the
    endpoint id and the source's ingest token."""
    app = make_app(run, store, uid="sealed")
    retired = [RetiredSecret(secret=OLD_SECRET, expires_at=now_ms() + 60_000)]
    endpoint = make_endpoint(
        run, store, app, headers={"authorization": "Bearer hdr-secret"}, retired_secrets=retired
    )
    source = make_source(run, store, uid="gh")
    return endpoint.id, source.token


def test_secrets_are_stored_sealed_and_read_back_whole(run: Run, url: str) -> None:
    keys = KeyRing.parse(new_key())
    store = opened(run, url, keys)
    try:
        endpoint_id, token = populate(run, store)
        stored = raw(run, store, "SELECT secret, retired_secrets, headers FROM endpoint")
        stored += raw(run, store, "SELECT config, token, token_lookup FROM source")
        text = repr(stored)
        for secret in (SECRET, OLD_SECRET, "hdr-secret", "s3cret", token):
            assert secret not in text
        assert stored[0][0].startswith(PREFIX)
        app = run(store.get_application("sealed"))
        endpoint = run(store.get_endpoint(app, endpoint_id))
        assert endpoint.secret == SECRET
        assert endpoint.headers == {"authorization": "Bearer hdr-secret"}
        assert [old.secret for old in endpoint.retired_secrets] == [OLD_SECRET]
        found = run(store.find_source_by_token(token, now_ms()))
        assert found is not None and found.config == {"secrets": ["s3cret"]}
        assert found.token == token
    finally:
        run(store.close())


def test_without_the_key_nothing_opens(run: Run, url: str) -> None:
    store = opened(run, url, KeyRing.parse(new_key()))
    try:
        endpoint_id, token = populate(run, store)
    finally:
        run(store.close())
    stranger = opened(run, url, KeyRing.parse(new_key()))
    try:
        app = run(stranger.get_application("sealed"))
        with pytest.raises(SealingError, match="not in TIDINGS_SECRET_KEY"):
            run(stranger.get_endpoint(app, endpoint_id))
        assert run(stranger.find_source_by_token(token, now_ms())) is None
    finally:
        run(stranger.close())


def test_rotation_seals_everything_with_the_new_key(run: Run, url: str) -> None:
    old, new = new_key(), new_key()
    store = opened(run, url, KeyRing.parse(old))
    try:
        endpoint_id, token = populate(run, store)
    finally:
        run(store.close())
    rotating = opened(run, url, KeyRing.parse(f"{new},{old}"))
    try:
        assert run(rotating.seal_everything()) == 2  # one endpoint, one source
        assert run(rotating.seal_everything()) == 0  # nothing left to do
    finally:
        run(rotating.close())
    rotated = opened(run, url, KeyRing.parse(new))  # the old key dropped
    try:
        app = run(rotated.get_application("sealed"))
        assert run(rotated.get_endpoint(app, endpoint_id)).secret == SECRET
        assert run(rotated.find_source_by_token(token, now_ms())) is not None
    finally:
        run(rotated.close())


def test_values_in_the_clear_are_sealed_at_the_next_start(run: Run, url: str) -> None:
    keys = KeyRing.parse(new_key())
    store = opened(run, url, keys)
    try:
        endpoint_id, token = populate(run, store)
        # As a database from before sealing has them.
        for sql in (
            f"UPDATE endpoint SET secret = '{SECRET}', headers = '{{\"x-a\": \"b\"}}'",
            f"UPDATE source SET token = '{token}', token_lookup = NULL, config = '{{}}'",
        ):
            raw(run, store, sql)
    finally:
        run(store.close())
    reopened = opened(run, url, keys)
    try:
        stored = raw(run, reopened, "SELECT secret, headers FROM endpoint")
        assert stored[0][0].startswith(PREFIX) and "x-a" not in repr(stored)
        app = run(reopened.get_application("sealed"))
        endpoint = run(reopened.get_endpoint(app, endpoint_id))
        assert (endpoint.secret, endpoint.headers) == (SECRET, {"x-a": "b"})
        assert run(reopened.find_source_by_token(token, now_ms())) is not None
    finally:
        run(reopened.close())


def test_a_sealed_value_moved_to_another_row_does_not_open(run: Run, url: str) -> None:
    store = opened(run, url, KeyRing.parse(new_key()))
    try:
        app = make_app(run, store, uid="two")
        first, second = make_endpoint(run, store, app), make_endpoint(run, store, app)
        raw(
            run,
            store,
            "UPDATE endpoint SET secret = (SELECT secret FROM endpoint "
            f"WHERE id = '{first.id}') WHERE id = '{second.id}'",
        )
        assert run(store.get_endpoint(app, first.id)).secret == SECRET
        with pytest.raises(SealingError, match="altered or moved"):
            run(store.get_endpoint(app, second.id))
    finally:
        run(store.close())
