"""The delivery queue's finer behaviour, on every backend: what a claim carries, what
recording decides, resend, recover and replay, and how messages are read back."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.contract.test_store import (
    DAY,
    Run,
    destination_status,
    make_app,
    make_endpoint,
    result,
    send,
)
from tidings.domain.clock import now_ms
from tidings.domain.errors import InvalidInput
from tidings.domain.internal import action_url, source_app_uid
from tidings.domain.models import AttemptFilter, MessageFilter, RetiredSecret
from tidings.domain.outcomes import Verdict
from tidings.domain.statuses import DeliveryStatus, TriggerType
from tidings.storage import Idempotency, Store

OLD_SECRET = "whsec_" + "b2xkLXNlY3JldC1rZXktb2YtMjQtYnl0ZXM="
EXPIRED_SECRET = "whsec_" + "ZXhwaXJlZC1zZWNyZXQta2V5LTI0LWJ5dGVz"


def test_a_claim_carries_what_the_attempt_needs(run: Run, store: Store) -> None:
    app = make_app(run, store, uid="acme")
    retired = [
        RetiredSecret(secret=OLD_SECRET, expires_at=now_ms() + 60_000),
        RetiredSecret(secret=EXPIRED_SECRET, expires_at=now_ms() - 1),
    ]
    endpoint = make_endpoint(
        run,
        store,
        app,
        uid="hook",
        headers={"X-Team": "billing"},
        throttle_rate=7,
        retired_secrets=retired,
    )
    created = send(run, store, app, event_id="evt-1", payload=b'{"n":1}')
    (claimed,) = run(store.claim_due(10, 60_000))
    assert (claimed.msg_id, claimed.endpoint_id, claimed.url) == (
        created.message.id,
        endpoint.id,
        endpoint.url,
    )
    assert (claimed.app_id, claimed.app_uid, claimed.endpoint_uid) == (app.id, "acme", "hook")
    assert claimed.payload == b'{"n":1}' and claimed.event_id == "evt-1"
    assert claimed.headers == {"X-Team": "billing"} and claimed.rate_limit == 7
    # The current secret first, then each retired one still in its grace period.
    assert claimed.secrets == [endpoint.secret, OLD_SECRET]
    assert (claimed.attempts_made, claimed.trigger_type) == (0, TriggerType.SCHEDULED)


def test_a_failed_attempt_waits_for_its_retry_time(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    created = send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    run(store.record_attempts([result(claimed, ok=False, retry_at=now_ms() + 60_000)], DAY))
    assert run(store.claim_due(10, 60_000)) == []
    assert destination_status(run, store, app, created) == DeliveryStatus.PENDING
    run(store.record_attempts([result(claimed, ok=False)], DAY))  # stale: moves nothing
    attempts = run(store.list_attempts(app, AttemptFilter(msg_key=created.message.key))).items
    assert sorted(a.status for a in attempts) == [DeliveryStatus.FAIL, DeliveryStatus.FAIL]


def test_a_410_disables_the_endpoint_and_parks_its_other_deliveries(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    later = send(run, store, app)  # queued for the endpoint before the 410 is recorded
    gone = replace(result(claimed, ok=False), status_code=410, verdict=Verdict.GONE)
    failed = replace(result(claimed, ok=False, retry_at=now_ms()), verdict=Verdict.FAILED)
    # Two outcomes for one endpoint in one batch: the 410 decides, whichever comes first.
    outcome = run(store.record_attempts([gone, failed], DAY))
    (disabled,) = outcome.disabled
    assert (disabled.endpoint_id, disabled.reason) == (
        endpoint.id,
        "the endpoint answered 410 Gone",
    )
    assert disabled.failing_since is None and disabled.app_key == app.key
    assert run(store.claim_due(10, 60_000)) == []  # the later delivery is parked
    assert destination_status(run, store, app, later) == DeliveryStatus.PENDING


def test_an_endpoint_failing_for_the_whole_period_is_disabled_with_its_start(
    run: Run, store: Store
) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    started = now_ms() - 10_000
    failing = replace(result(claimed, ok=False, retry_at=now_ms()), finished_at=started)
    outcome = run(store.record_attempts([failing], 5_000))
    (disabled,) = outcome.disabled
    assert (disabled.endpoint_id, disabled.reason) == (endpoint.id, "every attempt failed")
    assert (disabled.failing_since, disabled.app_key) == (started, app.key)


def test_a_resend_queues_a_manual_attempt_with_a_fresh_schedule(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    created = send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    run(store.record_attempts([result(claimed, ok=False)], DAY))  # failed for good
    assert destination_status(run, store, app, created) == DeliveryStatus.FAIL
    run(store.resend(created.message, endpoint))
    (again,) = run(store.claim_due(10, 60_000))
    assert (again.delivery_key, again.attempts_made) == (claimed.delivery_key, 0)
    assert again.trigger_type == TriggerType.MANUAL


def _fail_for_good(run: Run, store: Store) -> None:
    for claimed in run(store.claim_due(100, 60_000)):
        run(store.record_attempts([result(claimed, ok=False)], DAY))


def test_recover_requeues_failures_in_its_window_only(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    now = now_ms()
    early = send(run, store, app, created_at=now - 3_000)
    inside = send(run, store, app, created_at=now - 2_000)
    late = send(run, store, app, created_at=now - 1_000)
    _fail_for_good(run, store)
    assert run(store.recover(endpoint, now - 2_500, now - 1_500)) == 1
    (requeued,) = run(store.claim_due(10, 60_000))
    assert requeued.msg_id == inside.message.id
    for created in (early, late):
        assert destination_status(run, store, app, created) == DeliveryStatus.FAIL
    assert run(store.recover(endpoint, now - 10_000, None)) == 2  # no end: up to now


def test_replay_missing_queues_what_the_endpoint_never_had(run: Run, store: Store) -> None:
    app = make_app(run, store)
    first = make_endpoint(run, store, app)
    now = now_ms()
    before = send(run, store, app, created_at=now - 2_000, event_type="a")
    send(run, store, app, created_at=now - 1_500, event_type="b")
    _fail_for_good(run, store)
    late = make_endpoint(run, store, app, filter_types=["a"])
    replayed = run(store.replay_missing(late, now - 5_000, None))
    assert replayed == 1  # the "b" message does not match the new endpoint's filter
    (claimed,) = run(store.claim_due(10, 60_000))  # due at once
    assert (claimed.msg_id, claimed.endpoint_id) == (before.message.id, late.id)
    assert claimed.payload == b"{}"
    assert run(store.replay_missing(first, now - 5_000, None)) == 0


def test_a_replayed_key_reports_the_original_deliveries(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    make_endpoint(run, store, app)
    first = send(run, store, app, Idempotency("k", "f"))
    again = send(run, store, app, Idempotency("k", "f"))
    assert (again.created, again.deliveries, first.deliveries) == (False, 2, 2)
    with pytest.raises(InvalidInput) as refused:
        send(run, store, app, Idempotency("k", "other"))
    assert str(refused.value) == "idempotency-key was already used with a different request body"
    assert (refused.value.field, refused.value.location) == ("idempotency-key", "header")


def test_messages_read_back_with_their_channels_and_tags(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    # The second goes the way a process that keeps the endpoints takes (on PostgreSQL,
    # one statement), the first the way that reads them.
    made = [send(run, store, app, channels=["eu", "vip"], tags=[f"t{n}"]) for n in (1, 2)]
    found = run(store.list_messages(app, MessageFilter())).items
    shown = sorted((m.id, m.channels, m.tags) for m in found)
    assert shown == sorted(
        (c.message.id, ["eu", "vip"], [f"t{n}"]) for n, c in zip((1, 2), made, strict=True)
    )


def test_message_time_filters(run: Run, store: Store) -> None:
    app = make_app(run, store)
    now = now_ms()
    made = [send(run, store, app, created_at=now - age).message.id for age in (3000, 2000, 1000)]

    def listed(**window: int) -> list[str]:
        page = run(store.list_messages(app, MessageFilter(**window)))
        return sorted(m.id for m in page.items)

    assert listed(before=now - 1500) == sorted(made[:2])
    assert listed(after=now - 2500) == sorted(made[1:])
    assert listed(after=now - 2500, before=now - 1500) == [made[1]]
    for after, before in ((now - 1500, now - 2000), (now - 1000, now - 1000)):  # past, or at
        with pytest.raises(InvalidInput) as refused:
            listed(after=after, before=before)
        assert str(refused.value) == "after must be earlier than before"
        assert (refused.value.field, refused.value.location) == ("after", "query")


def test_claims_take_an_endpoint_with_room_for_one(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoint = make_endpoint(run, store, app)
    for _ in range(3):
        send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000, {endpoint.key: 1}))
    assert claimed.endpoint_key == endpoint.key


def test_a_claim_says_who_performs_the_delivery(run: Run, store: Store) -> None:
    customer = make_app(run, store, uid="customer")
    source_app = make_app(run, store, uid=source_app_uid("src_1"))
    make_endpoint(run, store, customer)
    make_endpoint(run, store, source_app)  # a forward of the source's events
    make_endpoint(run, store, source_app, url=action_url("deploys", "deploy"))
    send(run, store, customer)
    send(run, store, source_app)
    claimed = run(store.claim_due(10, 60_000))
    kinds = sorted((d.app_uid or "", d.url, d.kind.value) for d in claimed)
    assert kinds == [
        ("__tidings_source__src_1", "action://deploys/deploy", "action"),
        ("__tidings_source__src_1", "https://example.com/hook", "forward"),
        ("customer", "https://example.com/hook", "http"),
    ]


def test_a_released_delivery_waits_even_when_its_endpoint_has_other_work(
    run: Run, store: Store
) -> None:
    """The delivery's own due time holds, not only its endpoint's lane: another
    delivery of the endpoint falling due must not bring the released one along."""
    app = make_app(run, store)
    make_endpoint(run, store, app)
    send(run, store, app)
    (held,) = run(store.claim_due(10, 60_000))
    run(store.release([held], 60_000))
    other = send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    assert claimed.msg_id == other.message.id


def test_a_failed_delivery_waits_even_when_its_endpoint_has_other_work(
    run: Run, store: Store
) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    send(run, store, app)
    (first,) = run(store.claim_due(10, 60_000))
    run(store.record_attempts([result(first, ok=False, retry_at=now_ms() + 60_000)], DAY))
    other = send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    assert claimed.msg_id == other.message.id


def test_an_attempt_keeps_its_error_and_note(run: Run, store: Store) -> None:
    app = make_app(run, store)
    make_endpoint(run, store, app)
    created = send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    failed = replace(
        result(claimed, ok=False),
        error="the endpoint answered 503",
        note="sent twice: the connection closed as the request went out",
    )
    run(store.record_attempts([failed], DAY))
    (attempt,) = run(store.list_attempts(app, AttemptFilter(msg_key=created.message.key))).items
    assert attempt.error == "the endpoint answered 503"
    assert attempt.note == "sent twice: the connection closed as the request went out"


def test_a_retired_secret_signs_until_its_expiry_and_not_at_it(
    run: Run, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the claim's own instant: a secret expiring then is dropped, one expiring a
    millisecond later is kept. (The claim's clock is fixed for the test.)"""
    at = now_ms() + 10_000
    for module in ("tidings.storage.sqlite.queue", "tidings.storage.postgres.claim"):
        monkeypatch.setattr(f"{module}.now_ms", lambda: at)
    app = make_app(run, store)
    retired = [
        RetiredSecret(secret=OLD_SECRET, expires_at=at + 1),
        RetiredSecret(secret=EXPIRED_SECRET, expires_at=at),
    ]
    endpoint = make_endpoint(run, store, app, retired_secrets=retired)
    send(run, store, app)
    (claimed,) = run(store.claim_due(10, 60_000))
    assert claimed.secrets == [endpoint.secret, OLD_SECRET]


def test_replay_missing_stops_at_its_end(run: Run, store: Store) -> None:
    app = make_app(run, store)
    now = now_ms()
    inside = send(run, store, app, created_at=now - 2_000)
    send(run, store, app, created_at=now - 1_000)  # after the window's end
    late = make_endpoint(run, store, app)
    assert run(store.replay_missing(late, now - 5_000, now - 1_500)) == 1
    (claimed,) = run(store.claim_due(10, 60_000))
    assert claimed.msg_id == inside.message.id


def test_replay_missing_wakes_the_endpoints_own_lane(run: Run, store: Store) -> None:
    app = make_app(run, store)
    now = now_ms()
    replayed = send(run, store, app, created_at=now - 2_000)
    # Endpoints made before the replayed one, without work, so its key is not the
    # one a lane table would choose by itself.
    for _ in range(3):
        make_endpoint(run, store, app, channels=["elsewhere"])
    late = make_endpoint(run, store, app)
    assert run(store.replay_missing(late, now - 5_000, None)) == 1
    (claimed,) = run(store.claim_due(10, 60_000))
    assert (claimed.msg_id, claimed.endpoint_key) == (replayed.message.id, late.key)
