"""Tokens on every backend: what is stored, found, listed and ended."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.contract.test_store import make_app
from tidings.api import tokens
from tidings.api.auth import token_hash
from tidings.domain.access import ALL_CAPABILITIES, Capability, TokenKind
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict
from tidings.storage import Store

Run = Callable[[Awaitable[Any]], Any]


def test_a_token_is_found_by_its_hash_only_and_keeps_its_scope(run: Run, store: Store) -> None:
    app = make_app(run, store, uid="shop")
    secret, issued = run(
        tokens.issue(
            store,
            TokenKind.PORTAL,
            "portal",
            app_key=app.key,
            lifetime_seconds=3600,
            capabilities={Capability.VIEW_BASE, Capability.CREATE_ATTEMPTS},
            read_only=True,
            session_id="s-1",
        )
    )
    assert secret not in repr(issued) and issued.hash == token_hash(secret)
    found = run(store.find_token(token_hash(secret)))
    assert found == issued.__class__(**{**issued.__dict__, "app_id": app.id})
    assert found.capabilities == {Capability.VIEW_BASE, Capability.CREATE_ATTEMPTS}
    assert (found.read_only, found.session_id, found.kind) == (True, "s-1", TokenKind.PORTAL)
    assert found.expires_at is not None and found.works_at(now_ms())
    assert not found.works_at(found.expires_at)
    assert run(store.find_token(token_hash("tid_not-issued"))) is None


def test_admin_tokens_have_every_capability_and_no_application(run: Run, store: Store) -> None:
    _, issued = run(tokens.issue(store, TokenKind.ADMIN, "ops"))
    found = run(store.find_token(issued.hash))
    assert (found.app_key, found.app_id, found.capabilities) == (None, None, ALL_CAPABILITIES)
    assert found.grant().is_admin
    with pytest.raises(ValueError):
        run(tokens.issue(store, TokenKind.APPLICATION, "unbound"))


def test_the_same_hash_cannot_be_stored_twice(run: Run, store: Store) -> None:
    _, issued = run(tokens.issue(store, TokenKind.ADMIN, "one"))
    with pytest.raises(Conflict):
        run(store.add_token(issued.__class__(**{**issued.__dict__, "id": "tok_other"})))


def test_ending_a_token_keeps_the_earliest_end(run: Run, store: Store) -> None:
    _, issued = run(tokens.issue(store, TokenKind.ADMIN, "ops"))
    now = now_ms()
    assert run(store.end_token(issued.id, now + 60_000))
    assert run(store.end_token(issued.id, now - 1))
    assert run(store.end_token(issued.id, now + 120_000))  # later: the earlier end stands
    found = run(store.find_token(issued.hash))
    assert found.ends_at == now - 1 and not found.works_at(now)
    assert not run(store.end_token("tok_missing", now))


def test_expiring_an_applications_tokens_spares_other_applications_and_sessions(
    run: Run, store: Store
) -> None:
    mine, theirs = make_app(run, store, uid="mine"), make_app(run, store, uid="theirs")

    def portal(app_key: int, session: str | None) -> str:
        return run(
            tokens.issue(
                store,
                TokenKind.PORTAL,
                "p",
                app_key=app_key,
                lifetime_seconds=3600,
                session_id=session,
            )
        )[1].hash

    a, b, c = portal(mine.key, "a"), portal(mine.key, "b"), portal(mine.key, None)
    other = portal(theirs.key, "a")
    now = now_ms()
    assert run(store.end_app_tokens(mine.key, now, ["a"])) == 1
    works = {h: run(store.find_token(h)).works_at(now + 1) for h in (a, b, c, other)}
    assert works == {a: False, b: True, c: True, other: True}
    assert run(store.end_app_tokens(mine.key, now, None)) == 3
    assert [run(store.find_token(h)).works_at(now + 1) for h in (b, c, other)] == [
        False,
        False,
        True,
    ]


def test_tokens_are_listed_in_the_order_they_were_issued(run: Run, store: Store) -> None:
    app = make_app(run, store, uid="listed")
    first = run(tokens.issue(store, TokenKind.ADMIN, "first"))[1]
    second = run(tokens.issue(store, TokenKind.APPLICATION, "second", app_key=app.key))[1]
    listed = run(store.list_tokens())
    assert [t.id for t in listed] == [first.id, second.id]
    assert listed[1].app_id == app.id
    assert run(store.count_tokens()) == 2
