"""Sources, inbound events and rejections: behaviour every Store backend must have."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.contract.test_store import DAY, Run, make_endpoint
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict, InvalidInput
from tidings.domain.models import Application, InboundEvent, Message, Rejection, Source
from tidings.storage import Idempotency, Store
from tidings.storage.ports import SourceChanged


def make_source(run: Run, store: Store, uid: str | None = None, **fields: Any) -> Source:
    now = now_ms()
    source = Source(
        id=ids.new_id(ids.SOURCE),
        name="GitHub",
        type="github",
        token=ids.new_id("tok"),
        config={"secrets": ["s3cret"]},
        uid=uid,
        created_at=now,
        updated_at=now,
        **fields,
    )
    uid = f"__tidings_source__{source.id}"
    app = Application(id=ids.new_id(ids.APP), name="app", uid=uid, created_at=now, updated_at=now)
    return run(store.create_source(source, app))


def internal_app(run: Run, store: Store, source: Source) -> Application:
    app = run(store.get_application(f"__tidings_source__{source.id}"))
    assert app is not None and app.key == source.app_key
    return app


def receive(
    run: Run,
    store: Store,
    source: Source,
    body: bytes,
    delivery_id: str | None = None,
    query: str = "",
    at: int | None = None,
) -> Any:
    app = internal_app(run, store, source)
    now = now_ms() if at is None else at
    message = Message(
        id=ids.new_id(ids.MESSAGE),
        app_key=app.key,
        event_type=source.type,
        payload=body,
        event_id=delivery_id,
        created_at=now,
    )
    inbound = InboundEvent(
        msg_key=0,
        source_key=source.key,
        headers={"X-A": "1"},
        delivery_id=delivery_id,
        received_at=now,
        query=query,
    )
    idempotency = Idempotency(f"delivery:{delivery_id}", "inbound") if delivery_id else None
    return run(store.create_inbound(source, app, message, inbound, idempotency))


def test_source_round_trip_by_id_uid_and_token(run: Run, store: Store) -> None:
    source = make_source(run, store, uid="gh", metadata={"team": "x"})
    for key in (source.id, "gh"):
        found = run(store.get_source(key))
        assert found is not None
        assert (found.key, found.config, found.metadata) == (
            source.key,
            {"secrets": ["s3cret"]},
            {"team": "x"},
        )
    assert run(store.find_source_by_token(source.token, now_ms())).id == source.id
    assert run(store.get_source("missing")) is None
    assert run(store.find_source_by_token("missing", now_ms())) is None


def test_source_uid_is_unique(run: Run, store: Store) -> None:
    make_source(run, store, uid="same")
    with pytest.raises(Conflict):
        make_source(run, store, uid="same")


def test_sources_page(run: Run, store: Store) -> None:
    made = [make_source(run, store).id for _ in range(5)]
    first = run(store.list_sources(3, None, True))
    second = run(store.list_sources(3, first.iterator, True))
    assert [s.id for s in first.items + second.items] == made
    assert (first.done, second.done) == (False, True)


def test_previous_token_works_until_it_expires(run: Run, store: Store) -> None:
    source = make_source(run, store)
    old = source.token
    source.previous_token, source.previous_token_expires_at = old, now_ms() + DAY
    source.token = ids.new_id("tok")
    source.name = "renamed"
    run(store.update_source(source))
    now = now_ms()
    assert run(store.find_source_by_token(source.token, now)).name == "renamed"
    assert run(store.find_source_by_token(old, now)).id == source.id
    assert run(store.find_source_by_token(old, now + 2 * DAY)) is None


def test_inbound_event_is_kept_once_per_delivery_id(run: Run, store: Store) -> None:
    source = make_source(run, store)
    app = internal_app(run, store, source)
    make_endpoint(run, store, app)
    body = b"not json \xff"
    first = receive(run, store, source, body, "d-1")
    again = receive(run, store, source, b"other", "d-1")
    assert (first.created, first.deliveries) == (True, 1)
    # A repeat reports the original event's message and deliveries, as a replayed key does.
    assert (again.created, again.message.id, again.deliveries) == (False, first.message.id, 1)
    stored = run(store.get_message(app, first.message.id))
    assert stored.payload == body
    inbound = run(store.get_inbound(stored.key))
    assert (inbound.source_key, inbound.headers, inbound.delivery_id) == (
        source.key,
        {"X-A": "1"},
        "d-1",
    )
    # Without a delivery id nothing deduplicates.
    assert receive(run, store, source, body).created
    assert receive(run, store, source, body).created


def test_a_delivery_id_is_new_again_after_a_day(run: Run, store: Store) -> None:
    source = make_source(run, store)
    make_endpoint(run, store, internal_app(run, store, source))
    long_ago = receive(run, store, source, b"{}", "d-old", at=now_ms() - DAY - 60_000)
    recent = receive(run, store, source, b"{}", "d-new", at=now_ms() - DAY + 60_000)
    assert long_ago.created and recent.created
    assert receive(run, store, source, b"{}", "d-old").created
    assert not receive(run, store, source, b"{}", "d-new").created


def test_inbound_events_list_in_order_with_body_and_query(run: Run, store: Store) -> None:
    source = make_source(run, store)
    other = make_source(run, store)
    first = receive(run, store, source, b"one", "d-1", query="ref=main&x=%20")
    receive(run, store, other, b"elsewhere")
    second = receive(run, store, source, b"two \xff")
    listed = run(store.list_inbound(source, 0, 10))
    assert [(e.query, m.payload, m.id) for e, m in listed] == [
        ("ref=main&x=%20", b"one", first.message.id),
        ("", b"two \xff", second.message.id),
    ]
    assert listed[0][0].headers == {"X-A": "1"}
    after_first = run(store.list_inbound(source, first.message.key, 10))
    assert [m.id for _, m in after_first] == [second.message.id]
    assert run(store.list_inbound(source, 0, 1))[0][1].id == first.message.id


def test_rejections_keep_the_latest(run: Run, store: Store) -> None:
    source = make_source(run, store)
    for number in range(5):
        rejection = Rejection(
            source_key=source.key,
            status_code=401,
            reason="bad signature",
            detail=f"try {number}",
            received_at=now_ms(),
        )
        run(store.add_rejection(rejection, keep=3))
    found = run(store.list_rejections(source, 10))
    assert [r.detail for r in found] == ["try 4", "try 3", "try 2"]
    assert run(store.list_rejections(source, 1))[0].reason == "bad signature"


def test_deleting_a_source_removes_its_application_and_events(run: Run, store: Store) -> None:
    source = make_source(run, store)
    created = receive(run, store, source, b"{}", "d-1")
    run(store.add_rejection(Rejection(source.key, 401, "bad signature", "", now_ms()), keep=3))
    run(store.delete_source(source))
    assert run(store.get_source(source.id)) is None
    assert run(store.get_application(f"__tidings_source__{source.id}")) is None
    assert run(store.get_inbound(created.message.key)) is None
    assert run(store.find_source_by_token(source.token, now_ms())) is None


def test_internal_applications_are_not_listed_and_pages_stay_full(run: Run, store: Store) -> None:
    customers = []
    for number in range(4):
        make_source(run, store)  # each owns an internal application
        now = now_ms()
        app = Application(
            id=ids.new_id(ids.APP),
            name=f"c{number}",
            uid=f"c{number}",
            created_at=now,
            updated_at=now,
        )
        customers.append(run(store.create_application(app)).id)
    first = run(store.list_applications(2, None, True))
    second = run(store.list_applications(2, first.iterator, True))
    assert [a.id for a in first.items + second.items] == customers
    assert second.done


@pytest.mark.parametrize(
    "change",
    [
        {"config": {"secrets": ["rotated"]}},
        {"type": "stripe"},
        {"token": "tok_replaced"},
        {"previous_token": "tok_old", "previous_token_expires_at": 1},
    ],
)
def test_an_event_verified_with_a_stale_source_is_refused(
    run: Run, store: Store, change: dict[str, Any]
) -> None:
    """A process that verified with a source read before another process changed
    it must not keep the event: it reads the source again instead."""
    source = make_source(run, store)
    stale = Source(**vars(source))
    app = internal_app(run, store, source)
    make_endpoint(run, store, app)
    for name, value in change.items():
        setattr(source, name, value)
    run(store.update_source(source))
    with pytest.raises(SourceChanged):
        receive(run, store, stale, b"{}", "d-stale")
    assert run(store.list_inbound(source, 0, 10)) == []
    # A change that does not touch verification (the name) does not refuse.
    fresh = run(store.get_source(source.id))
    fresh.name = "renamed"
    run(store.update_source(fresh))
    assert receive(run, store, source, b"{}", "d-fresh").created


def test_an_event_for_a_deleted_source_is_refused(run: Run, store: Store) -> None:
    source = make_source(run, store)
    app = internal_app(run, store, source)
    run(store.delete_source(source))
    message = Message(
        id=ids.new_id(ids.MESSAGE),
        app_key=app.key,
        event_type="github",
        payload=b"{}",
        created_at=now_ms(),
    )
    inbound = InboundEvent(
        msg_key=0, source_key=source.key, headers={}, delivery_id=None, received_at=now_ms()
    )
    with pytest.raises(SourceChanged):
        run(store.create_inbound(source, app, message, inbound, None))


def test_events_received_together_are_each_kept_once(run: Run, store: Store) -> None:
    """Many events of one source at once (on SQLite the writer keeps those of one
    group in a single batch): repeats of a delivery id, new or already kept, are
    answered as repeats of the first; an event verified with a stale source alone
    is refused; the rest are kept with their own keys, headers and deliveries."""
    source = make_source(run, store)
    stale = Source(**vars(source))
    app = internal_app(run, store, source)
    make_endpoint(run, store, app)
    kept_before = receive(run, store, source, b"kept", "d-kept")
    source.config = {"secrets": ["rotated"]}
    source = run(store.update_source(source))
    now = now_ms()

    def arrival(body: bytes, delivery_id: str | None, verified_with: Source) -> Any:
        message = Message(
            id=ids.new_id(ids.MESSAGE),
            app_key=app.key,
            event_type="github",
            payload=body,
            event_id=delivery_id,
            created_at=now,
        )
        inbound = InboundEvent(
            msg_key=0,
            source_key=source.key,
            headers={"x-n": body.decode()},
            delivery_id=delivery_id,
            received_at=now,
        )
        idempotency = Idempotency(f"delivery:{delivery_id}", "inbound") if delivery_id else None
        return store.create_inbound(verified_with, app, message, inbound, idempotency)

    async def together() -> list[Any]:
        arrivals = [arrival(f"e{n}".encode(), f"d-{n}", source) for n in range(30)]
        arrivals += [arrival(f"again{n}".encode(), f"d-{n}", source) for n in range(0, 30, 3)]
        arrivals += [arrival(b"kept again", "d-kept", source), arrival(b"anon", None, source)]
        arrivals += [arrival(b"stale", "d-stale", stale)]
        return await asyncio.gather(*arrivals, return_exceptions=True)

    outcomes = run(together())
    first, repeats = outcomes[:30], outcomes[30:40]
    kept_again, anonymous, refused = outcomes[40:]
    winners: dict[int, Any] = {n: created for n, created in enumerate(first)}
    for n, repeat in zip(range(0, 30, 3), repeats, strict=True):
        # Two at once with one delivery id: whichever is kept first, the other is
        # answered as its repeat, or (PostgreSQL, while the first is still being
        # committed) refused as in progress, which the receiver answers as a duplicate.
        pair = [first[n], repeat]
        kept = [created for created in pair if not isinstance(created, Conflict)]
        if len(kept) == 1:
            assert any("in progress" in str(other) for other in pair if other not in kept)
        else:
            assert sorted(created.created for created in kept) == [False, True]
            assert kept[0].message.id == kept[1].message.id
        assert all(created.deliveries == 1 for created in kept)
        winners[n] = next(created for created in kept if created.created)
    assert all(created.created and created.deliveries == 1 for n, created in winners.items())
    assert len({created.message.key for created in winners.values()}) == 30
    assert (kept_again.created, kept_again.message.id) == (False, kept_before.message.id)
    assert anonymous.created
    assert isinstance(refused, SourceChanged)
    events = run(store.list_inbound(source, 0, 100))
    bodies = {message.payload: event for event, message in events}
    assert set(bodies) == {b"kept", b"anon"} | {w.message.payload for w in winners.values()}
    assert bodies[b"e7"].headers == {"x-n": "e7"} and bodies[b"e7"].delivery_id == "d-7"
    assert bodies[b"e7"].msg_key == first[7].message.key


def test_an_idempotency_key_without_a_delivery_id_settles_repeats(run: Run, store: Store) -> None:
    """Receiving pairs the key with the delivery id; the Store API also takes a key
    alone, and then the key answers repeats, as for any message."""
    source = make_source(run, store)
    app = internal_app(run, store, source)
    make_endpoint(run, store, app)

    def keyed(body: bytes, fingerprint: str) -> Any:
        message = Message(
            id=ids.new_id(ids.MESSAGE),
            app_key=app.key,
            event_type="github",
            payload=body,
            created_at=now_ms(),
        )
        inbound = InboundEvent(
            msg_key=0, source_key=source.key, headers={}, delivery_id=None, received_at=now_ms()
        )
        return store.create_inbound(source, app, message, inbound, Idempotency("k-1", fingerprint))

    first = run(keyed(b"one", "f"))
    again = run(keyed(b"two", "f"))
    assert first.created and (again.created, again.message.id) == (False, first.message.id)
    with pytest.raises(InvalidInput):
        run(keyed(b"three", "other"))
    assert [m.payload for _, m in run(store.list_inbound(source, 0, 10))] == [b"one"]
