"""Behaviour every Store backend must have."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict, InvalidInput
from tidings.domain.models import (
    Application,
    AttemptFilter,
    AttemptResult,
    ClaimedDelivery,
    Endpoint,
    Message,
    MessageFilter,
)
from tidings.domain.statuses import DeliveryStatus
from tidings.storage import Idempotency, Store

DAY = 24 * 3600 * 1000
Run = Callable[[Awaitable[Any]], Any]


def make_app(run: Run, store: Store, uid: str | None = None) -> Application:
    now = now_ms()
    app = Application(id=ids.new_id(ids.APP), name="A", uid=uid, created_at=now, updated_at=now)
    return run(store.create_application(app))


def make_endpoint(run: Run, store: Store, app: Application, **fields: Any) -> Endpoint:
    endpoint = Endpoint(
        id=ids.new_id(ids.ENDPOINT),
        app_key=app.key,
        url=fields.pop("url", "https://example.com/hook"),
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        created_at=now_ms(),
        updated_at=now_ms(),
        **fields,
    )
    return run(store.create_endpoint(endpoint))


def send(
    run: Run, store: Store, app: Application, idempotency: Idempotency | None = None, **fields: Any
) -> Any:
    message = Message(
        id=ids.new_id(ids.MESSAGE),
        app_key=app.key,
        event_type=fields.pop("event_type", "a"),
        payload=fields.pop("payload", b"{}"),
        created_at=fields.pop("created_at", now_ms()),
        **fields,
    )
    return run(store.create_message(app, message, idempotency))


def result(delivery: ClaimedDelivery, ok: bool, retry_at: int | None = None) -> AttemptResult:
    return AttemptResult(
        attempt_id=ids.new_id(ids.ATTEMPT),
        delivery=delivery,
        succeeded=ok,
        status_code=200 if ok else 500,
        response="",
        duration_ms=1,
        error=None,
        finished_at=now_ms(),
        retry_at=retry_at,
    )


def test_uid_is_unique(run: Run, store: Store) -> None:
    make_app(run, store, uid="same")
    with pytest.raises(Conflict):
        make_app(run, store, uid="same")


def test_application_found_by_id_and_uid(run: Run, store: Store) -> None:
    app = make_app(run, store, uid="acme")
    assert run(store.get_application(app.id)).key == app.key
    assert run(store.get_application("acme")).key == app.key
    assert run(store.get_application("missing")) is None


def test_pages_walk_forward_and_back(run: Run, store: Store) -> None:
    made = [make_app(run, store).id for _ in range(7)]
    first = run(store.list_applications(3, None, True))
    second = run(store.list_applications(3, first.iterator, True))
    third = run(store.list_applications(3, second.iterator, True))
    assert [a.id for a in first.items + second.items + third.items] == made
    assert (first.done, second.done, third.done) == (False, False, True)
    back = run(store.list_applications(3, second.prev_iterator, True))
    assert [a.id for a in back.items] == made[:3]
    descending = run(store.list_applications(50, None, False))
    assert [a.id for a in descending.items] == made[::-1]


def test_message_creates_one_delivery_per_matching_endpoint(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    make_endpoint(run, store, app, filter_types=["b"])
    make_endpoint(run, store, app, disabled=True)
    created = send(run, store, app, event_type="a")
    assert created.created and created.deliveries == 1


def test_idempotency_replays_or_rejects(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    key = Idempotency("k", "fingerprint-1")
    first = send(run, store, app, key)
    again = send(run, store, app, key)
    assert (again.message.id, again.created) == (first.message.id, False)
    with pytest.raises(InvalidInput):
        send(run, store, app, Idempotency("k", "fingerprint-2"))
    assert len(run(store.claim_due(10, 60_000))) == 1


def test_an_expired_idempotency_key_can_be_used_again(run: Run, store: Store) -> None:
    app = make_app(run, store)
    first = send(
        run, store, app, Idempotency("k", "fingerprint-1"), created_at=now_ms() - DAY - 1000
    )
    again = send(run, store, app, Idempotency("k", "fingerprint-2"))
    assert again.created and again.message.id != first.message.id
    with pytest.raises(InvalidInput):  # the key is taken again, for a day
        send(run, store, app, Idempotency("k", "fingerprint-1"))
    # The same through the path that reads the application afresh (on PostgreSQL the
    # first create does, and so does one after its endpoints changed; later ones take
    # the one-statement path).
    old = send(run, store, app, Idempotency("o", "f-1"), created_at=now_ms() - DAY - 1000)
    make_endpoint(run, store, app)
    taken_over = send(run, store, app, Idempotency("o", "f-2"))
    assert taken_over.created and taken_over.message.id != old.message.id
    # The window is the new message's day: a key exactly a day older is free again,
    # and one a millisecond younger still replays.
    # Both ways: as the second message of a kept application (on PostgreSQL, one
    # statement), and after its endpoints changed (the transaction path).
    for turn in ("kept", "changed"):
        if turn == "changed":
            make_endpoint(run, store, app)
        now = now_ms()
        send(run, store, app, Idempotency(f"edge-{turn}", "f-1"), created_at=now - DAY)
        if turn == "changed":
            make_endpoint(run, store, app)
        assert send(run, store, app, Idempotency(f"edge-{turn}", "f-2"), created_at=now).created
        held = send(run, store, app, Idempotency(f"held-{turn}", "f"), created_at=now - DAY + 1)
        if turn == "changed":
            make_endpoint(run, store, app)
        again = send(run, store, app, Idempotency(f"held-{turn}", "f"), created_at=now)
        assert (again.created, again.message.id) == (False, held.message.id)
    # Within the day the key holds: a key a minute short of a day old still replays.
    recent = send(run, store, app, Idempotency("r", "f"), created_at=now_ms() - DAY + 60_000)
    replayed = send(run, store, app, Idempotency("r", "f"))
    assert (replayed.created, replayed.message.id) == (False, recent.message.id)


def test_claims_are_exclusive_until_the_lease_expires(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    assert claimed.payload == b"{}"
    assert run(store.claim_due(10, 60_000)) == []
    run(store.release([claimed]))
    (again,) = run(store.claim_due(10, 0))  # a zero lease expires at once
    (stolen,) = run(store.claim_due(10, 60_000))
    assert stolen.claim_id != again.claim_id


def stale_and_fresh(
    run: Run, store: Store, fresh_lease_ms: int = 60_000
) -> tuple[Application, Any, ClaimedDelivery, ClaimedDelivery]:
    """One delivery claimed twice: the first lease expired at once and a second claim took over."""
    app = make_app(run, store)
    make_endpoint(run, store, app)
    created = send(run, store, app)
    (stale,) = run(store.claim_due(10, 0))  # a zero lease expires at once
    (fresh,) = run(store.claim_due(10, fresh_lease_ms))
    assert stale.claim_id != fresh.claim_id
    return app, created, stale, fresh


def destination_status(run: Run, store: Store, app: Application, created: Any) -> DeliveryStatus:
    (destination,) = run(store.list_destinations(app, created.message, 10, None)).items
    return DeliveryStatus(destination.status)


def test_a_stale_claim_cannot_overwrite_a_newer_one(run: Run, store: Store) -> None:
    app, created, stale, fresh = stale_and_fresh(run, store)
    run(store.record_attempts([result(stale, ok=True)], DAY))
    # The stale worker's attempt is on record, but the delivery is still the fresh claim's:
    # still sending, not marked delivered, and its attempt count not moved.
    assert destination_status(run, store, app, created) == DeliveryStatus.SENDING
    assert run(store.claim_due(10, 60_000)) == []
    run(store.record_attempts([result(fresh, ok=False, retry_at=now_ms())], DAY))
    assert destination_status(run, store, app, created) == DeliveryStatus.PENDING
    (retried,) = run(store.claim_due(10, 60_000))
    assert retried.attempts_made == 1
    attempts = run(store.list_attempts(app, AttemptFilter(msg_key=created.message.key))).items
    assert len(attempts) == 2


def test_a_stale_claim_cannot_extend_a_newer_lease(run: Run, store: Store) -> None:
    app, created, stale, fresh = stale_and_fresh(run, store, fresh_lease_ms=0)
    run(store.extend_leases([stale], 60_000))
    # The fresh lease expired at once and nothing renewed it: the stale claim's renewal
    # must not have, so a third claim takes the delivery now.
    (third,) = run(store.claim_due(10, 60_000))
    assert third.claim_id not in (stale.claim_id, fresh.claim_id)
    run(store.record_attempts([result(third, ok=True)], DAY))
    assert destination_status(run, store, app, created) == DeliveryStatus.SUCCESS


def test_a_stale_claim_cannot_release_a_newer_one(run: Run, store: Store) -> None:
    app, created, stale, fresh = stale_and_fresh(run, store)
    run(store.release([stale], 60_000))
    # Released by the stale claim, the delivery would be pending an hour out and the
    # fresh claim's success would be fenced off.
    assert destination_status(run, store, app, created) == DeliveryStatus.SENDING
    run(store.record_attempts([result(fresh, ok=True)], DAY))
    assert destination_status(run, store, app, created) == DeliveryStatus.SUCCESS


def test_a_lease_renewal_keeps_the_delivery_claimed(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    send(run, store, app)
    (claimed,) = run(store.claim_due(10, 0))
    run(store.extend_leases([claimed], 60_000))
    assert run(store.claim_due(10, 60_000)) == []


def test_retry_then_success_then_nothing_due(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    created = send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    run(store.record_attempts([result(claimed, ok=False, retry_at=now_ms())], DAY))
    (retried,) = run(store.claim_due(10, 60_000))
    assert retried.attempts_made == 1
    run(store.record_attempts([result(retried, ok=True)], DAY))
    assert run(store.claim_due(10, 60_000)) == []
    # Each attempt keeps its own outcome.
    attempts = run(store.list_attempts(app, AttemptFilter(msg_key=created.message.key))).items
    assert sorted(a.status for a in attempts) == [DeliveryStatus.SUCCESS, DeliveryStatus.FAIL]
    (destination,) = run(store.list_destinations(app, created.message, 10, None)).items
    assert destination.status == DeliveryStatus.SUCCESS


def test_disabled_endpoint_parks_deliveries_until_enabled(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    send(run, store, app)
    endpoint.disabled = True
    run(store.update_endpoint(endpoint))
    assert run(store.claim_due(10, 60_000)) == []
    endpoint.disabled = False
    run(store.update_endpoint(endpoint))
    assert len(run(store.claim_due(10, 60_000))) == 1


def test_message_filters(run: Run, store: Store) -> None:
    app = make_app(run, store)
    send(run, store, app, event_type="a", channels=["eu"], tags=["t1"])
    send(run, store, app, event_type="b", channels=["us"])
    by = lambda **f: [m.event_type for m in run(store.list_messages(app, MessageFilter(**f))).items]  # noqa: E731
    assert by(channel="eu") == ["a"]
    assert by(tag="t1") == ["a"]
    assert by(event_types=["b"]) == ["b"]
    assert by() == ["b", "a"]


def test_tenants_cannot_see_each_other(run: Run, store: Store) -> None:
    mine, theirs = make_app(run, store), make_app(run, store)
    endpoint = make_endpoint(run, store, theirs)
    created = send(run, store, theirs)
    assert run(store.get_endpoint(mine, endpoint.id)) is None
    assert run(store.get_message(mine, created.message.id)) is None
    assert run(store.list_messages(mine, MessageFilter())).items == []


def test_deleting_an_application_removes_its_objects(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    send(run, store, app)
    run(store.delete_application(app))
    assert run(store.get_application(app.id)) is None
    assert run(store.claim_due(10, 60_000)) == []


def test_claims_share_between_applications(run: Run, store: Store) -> None:
    flood, quiet = make_app(run, store), make_app(run, store)
    make_endpoint(run, store, flood)
    make_endpoint(run, store, quiet)
    for _ in range(300):
        send(run, store, flood)
    for _ in range(5):
        send(run, store, quiet)
    claimed = run(store.claim_due(100, 60_000))
    assert len(claimed) == 100
    assert sum(1 for d in claimed if d.app_key == quiet.key) == 5


def test_a_lone_application_gets_whole_batches(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    for _ in range(300):
        send(run, store, app)
    assert len(run(store.claim_due(250, 60_000))) == 250
    assert len(run(store.claim_due(250, 60_000))) == 50


def test_released_deliveries_wait_for_their_delay(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    send(run, store, app)
    claimed = run(store.claim_due(10, 60_000))
    run(store.release(claimed, 60_000))
    assert run(store.claim_due(10, 60_000)) == []
    due = run(store.next_due_at())
    assert due is not None and due > now_ms() + 50_000


def test_claims_skip_endpoints_the_worker_has_no_room_for(run: Run, store: Store) -> None:
    app = make_app(run, store)
    busy, idle = make_endpoint(run, store, app), make_endpoint(run, store, app, channels=["x"])
    for _ in range(20):
        send(run, store, app)  # matches only `busy` (the other filters on a channel)
    send(run, store, app, channels=["x"])
    claimed = run(store.claim_due(10, 60_000, {busy.key: 0}))
    assert [d.endpoint_key for d in claimed] == [idle.key]
    # Without the busy endpoint, nothing is due before the claimed one's lease ends.
    assert run(store.next_due_at([busy.key])) > now_ms() + 50_000
    assert run(store.next_due_at()) <= now_ms()


def test_claims_bring_no_more_than_an_endpoint_has_room_for(run: Run, store: Store) -> None:
    app = make_app(run, store)
    narrow, wide = (
        make_endpoint(run, store, app, channels=["n"]),
        make_endpoint(run, store, app, channels=["w"]),
    )
    for _ in range(30):
        send(run, store, app, channels=["n"])
        send(run, store, app, channels=["w"])
    claimed = run(store.claim_due(40, 60_000, {narrow.key: 3}))
    to = Counter(d.endpoint_key for d in claimed)
    # The narrow endpoint gets its room; the wide one its share and what is left.
    assert to == {narrow.key: 3, wide.key: 30}
    again = run(store.claim_due(40, 60_000, {narrow.key: 25}))
    assert Counter(d.endpoint_key for d in again) == {narrow.key: 25}


def test_re_enabling_an_endpoint_forgets_its_failures(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    # disable_after 0: the first failure disables the endpoint.
    outcome = run(store.record_attempts([result(claimed, ok=False, retry_at=now_ms())], 0))
    assert [d.endpoint_id for d in outcome.disabled] == [endpoint.id]
    found = run(store.get_endpoint(app, endpoint.id))
    assert found.disabled and found.failing_since is not None
    found.disabled = False
    run(store.update_endpoint(found))
    assert run(store.get_endpoint(app, endpoint.id)).failing_since is None
    (again,) = run(store.claim_due(10, 60_000))  # its parked delivery is due again
    assert again.delivery_key == claimed.delivery_key
