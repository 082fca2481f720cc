"""Behaviour pinned on both backends so that they cannot drift apart: endpoint health,
leases, recovery, round trips, error messages, keys and eventIds. (These began in the
PostgreSQL-only suite, which now holds only what PostgreSQL alone has to prove.)"""

from __future__ import annotations

import pytest

from tests.contract.test_store import DAY, Run, make_app, make_endpoint, result, send
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict, InvalidInput
from tidings.domain.models import (
    Application,
    AttemptFilter,
    EventType,
    MessageFilter,
    RetiredSecret,
)
from tidings.domain.outcomes import Verdict
from tidings.domain.statuses import DeliveryStatus
from tidings.storage import Idempotency, Store


def test_keys_and_event_ids_behave_alike_once_endpoints_are_kept(run: Run, store: Store) -> None:
    """After a first message the store keeps the application's endpoints (on
    PostgreSQL the one-call create applies from then on): a replayed key answers the
    original, a reused key with another body is refused, a taken eventId conflicts,
    and a request refused for its eventId leaves its idempotency key unused."""
    app = make_app(run, store)
    make_endpoint(run, store, app)
    send(run, store, app)  # the endpoints are kept from here on
    first = send(run, store, app, Idempotency("k1", "f1"), event_id="evt-1")
    replayed = send(run, store, app, Idempotency("k1", "f1"), event_id="evt-1")
    assert (first.created, replayed.created) == (True, False)
    assert replayed.message.id == first.message.id and replayed.deliveries == 1
    with pytest.raises(InvalidInput, match="idempotency-key"):
        send(run, store, app, Idempotency("k1", "other body"))
    with pytest.raises(Conflict, match="evt-1"):
        send(run, store, app, Idempotency("k2", "f2"), event_id="evt-1")
    unused = send(run, store, app, Idempotency("k2", "f2"), event_id="evt-2")
    assert unused.created and unused.deliveries == 1


def test_nul_in_a_response_is_recorded_not_fatal(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    created = send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    attempt = result(claimed, ok=True)
    attempt.response = "a\x00b"
    run(store.record_attempts([attempt], DAY))
    (recorded,) = run(store.list_attempts(app, AttemptFilter(msg_key=created.message.key))).items
    assert recorded.response in ("a\x00b", "a\ufffdb")


def test_a_gone_endpoint_is_disabled_and_its_deliveries_parked(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    send(run, store, app)
    send(run, store, app)
    first, second = run(store.claim_due(10, 60_000))
    gone = result(first, ok=False)
    gone.verdict = Verdict.GONE
    outcome = run(store.record_attempts([gone], DAY))
    assert [event.endpoint_id for event in outcome.disabled] == [endpoint.id]
    assert run(store.get_endpoint(app, endpoint.id)).disabled
    run(store.release([second]))
    assert run(store.claim_due(10, 60_000)) == []  # both parked
    endpoint.disabled = False
    run(store.update_endpoint(endpoint))
    assert len(run(store.claim_due(10, 60_000))) == 2


def test_an_endpoint_failing_for_too_long_is_disabled(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    first = result(claimed, ok=False, retry_at=now_ms())
    outcome = run(store.record_attempts([first], DAY))
    assert outcome.disabled == []
    assert run(store.get_endpoint(app, endpoint.id)).failing_since == first.finished_at
    (again,) = run(store.claim_due(10, 60_000))
    outcome = run(store.record_attempts([result(again, ok=False)], 0))
    (disabled,) = outcome.disabled
    assert (disabled.endpoint_id, disabled.failing_since) == (endpoint.id, first.finished_at)


def test_a_success_ends_a_run_of_failures(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    run(store.record_attempts([result(claimed, ok=False, retry_at=now_ms())], DAY))
    (again,) = run(store.claim_due(10, 60_000))
    run(store.record_attempts([result(again, ok=True)], DAY))
    assert run(store.get_endpoint(app, endpoint.id)).failing_since is None


def test_leases_extend_only_for_the_current_claim(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    send(run, store, app)
    (stale,) = run(store.claim_due(10, 0))
    run(store.extend_leases([stale], 60_000))  # still its claim: extended
    assert run(store.claim_due(10, 60_000)) == []


def test_message_listing_filters_on_both_backends(run: Run, store: Store) -> None:
    app = make_app(run, store)
    send(run, store, app, event_type="a", channels=["eu", "us"], tags=["t1"], event_id="e1")
    send(run, store, app, event_type="b", channels=["us"])
    by = lambda **f: [m.event_type for m in run(store.list_messages(app, MessageFilter(**f))).items]  # noqa: E731
    assert by(channel="us") == ["b", "a"]
    assert by(channel="eu", tag="t1", event_types=["a", "c"]) == ["a"]
    assert run(store.get_message(app, "e1")).event_type == "a"
    assert run(store.list_attempts(app, AttemptFilter(status=DeliveryStatus.SUCCESS))).items == []


def test_recover_requeues_failed_deliveries_as_manual(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    send(run, store, app)
    send(run, store, app)
    claimed = run(store.claim_due(10, 60_000))
    run(store.record_attempts([result(item, ok=False) for item in claimed], DAY))
    assert run(store.recover(endpoint, now_ms() + 60_000, None)) == 0
    assert run(store.recover(endpoint, 0, None)) == 2
    again = run(store.claim_due(10, 60_000))
    assert [(item.attempts_made, item.trigger_type) for item in again] == [(0, 1), (0, 1)]


def test_replay_missing_queues_only_what_the_endpoint_never_had(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app, disabled=True, filter_types=["a"])
    send(run, store, app, event_type="a")
    send(run, store, app, event_type="b")
    assert run(store.claim_due(10, 60_000)) == []
    endpoint.disabled = False
    run(store.update_endpoint(endpoint))
    assert run(store.replay_missing(endpoint, 0, None)) == 1
    assert run(store.replay_missing(endpoint, 0, None)) == 0
    (claimed,) = run(store.claim_due(10, 60_000))
    assert claimed.trigger_type == 1


def test_objects_round_trip_field_for_field(run: Run, store: Store) -> None:
    now = now_ms()
    app = Application(
        id=ids.new_id(ids.APP),
        name="A",
        uid="u",
        throttle_rate=10,
        metadata={"k": "v"},
        created_at=now,
        updated_at=now,
    )
    run(store.create_application(app))
    assert run(store.get_application("u")) == app
    endpoint = make_endpoint(
        run,
        store,
        app,
        uid="e",
        description="d",
        filter_types=["a", "b"],
        channels=["c"],
        headers={"X-A": "1"},
        throttle_rate=5,
        metadata={"m": "n"},
        retired_secrets=[RetiredSecret("whsec_old", now + 1000)],
    )
    assert run(store.get_endpoint(app, "e")) == endpoint
    schemas = {"1": {"type": "object", "properties": {"z": {}, "a": {}}}}
    event_type = EventType(
        name="invoice.paid",
        description="x",
        schemas=schemas,
        group_name="g",
        feature_flags=["beta"],
        created_at=now,
    )
    run(store.create_event_type(event_type))
    found = run(store.get_event_type("invoice.paid"))
    assert found == event_type
    assert list(found.schemas["1"]["properties"]) == ["z", "a"]  # as written


def test_conflicts_say_what_clashed(run: Run, store: Store) -> None:
    app = make_app(run, store, uid="same")
    make_endpoint(run, store, app, uid="hook")
    with pytest.raises(Conflict, match=r"^an application with uid 'same' already exists$"):
        make_app(run, store, uid="same")
    with pytest.raises(Conflict, match=r"^an endpoint with uid 'hook' already exists$"):
        make_endpoint(run, store, app, uid="hook")
    send(run, store, app, event_id="evt")
    with pytest.raises(Conflict, match=r"^a message with eventId 'evt' already exists$"):
        send(run, store, app, event_id="evt")
