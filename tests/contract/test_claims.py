"""How a claim sorts out what it leased and shares itself between endpoints, on
every backend: a delivery whose endpoint vanished under it, claims smaller than
the number of due endpoints, turns kept by lanes a claim left out, and rooms
between a share and the whole claim."""

from __future__ import annotations

import functools
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from tests.contract.test_store import Run, make_app, make_endpoint, send
from tests.keys import TEST_KEYS
from tidings.domain.clock import now_ms
from tidings.domain.statuses import DeliveryStatus
from tidings.storage import Store, open_store
from tidings.storage.sqlite.store import SqliteStore


def _write_behind_the_store(run: Run, store: Store, sql: str, *params: Any) -> None:
    """A write the store's own paths never make, as a concurrent process (or a race
    the suites cannot time) would leave it."""
    from tidings.storage.postgres.store import PostgresStore

    if isinstance(store, SqliteStore):
        with sqlite3.connect(store._path) as conn:
            conn.execute(sql.replace("$1", "?"), params)
        conn.close()
        return
    assert isinstance(store, PostgresStore)
    run(store._execute(sql, *params))


def _delivery_row(run: Run, store: Store, endpoint_key: int) -> tuple[Any, ...]:
    from tidings.storage.postgres.store import PostgresStore

    sql = "SELECT status, claim_id, updated_at FROM delivery WHERE endpoint_key = "
    if isinstance(store, SqliteStore):
        (row,) = store._rows(sql + "?", (endpoint_key,))
    else:
        assert isinstance(store, PostgresStore)
        (row,) = run(store._fetch(sql + "$1", endpoint_key))
    return tuple(row)


def test_a_delivery_whose_endpoint_vanished_is_cancelled_by_the_claim(
    run: Run, store: Store
) -> None:
    app = make_app(run, store)
    vanished, kept = make_endpoint(run, store, app), make_endpoint(run, store, app)
    send(run, store, app)
    before = now_ms()
    # Deleting an endpoint through the store cancels its deliveries in the same
    # transaction; a claim that leased one just before must cancel it itself.
    _write_behind_the_store(run, store, "DELETE FROM endpoint WHERE key = $1", vanished.key)
    claimed = run(store.claim_due(10, 60_000))
    assert [d.endpoint_key for d in claimed] == [kept.key]
    status, claim_id, updated_at = _delivery_row(run, store, vanished.key)
    assert (status, claim_id) == (DeliveryStatus.CANCELED, None)
    assert updated_at >= before
    assert run(store.claim_due(10, 60_000)) == []


def test_a_claim_smaller_than_the_due_endpoints_takes_one_from_each(run: Run, store: Store) -> None:
    app = make_app(run, store)
    endpoints = [make_endpoint(run, store, app) for _ in range(3)]
    for _ in range(4):
        send(run, store, app)  # every endpoint gets each message
    first = run(store.claim_due(2, 60_000))
    assert len({d.endpoint_key for d in first}) == 2
    # The endpoint left out has its turn next, and each claim still takes one each.
    second = run(store.claim_due(2, 60_000))
    assert len({d.endpoint_key for d in second}) == 2
    left_out = {e.key for e in endpoints} - {d.endpoint_key for d in first}
    assert left_out <= {d.endpoint_key for d in second}


def test_claims_of_one_take_turns_between_endpoints(run: Run, store: Store) -> None:
    app = make_app(run, store)
    one, two = make_endpoint(run, store, app), make_endpoint(run, store, app)
    for _ in range(3):
        send(run, store, app)
    taken = [run(store.claim_due(1, 60_000))[0].endpoint_key for _ in range(4)]
    assert Counter(taken) == {one.key: 2, two.key: 2}
    assert taken[0] != taken[1] and taken[2] != taken[3]


def test_an_endpoint_without_room_does_not_use_up_a_small_claim(run: Run, store: Store) -> None:
    app = make_app(run, store)
    busy = make_endpoint(run, store, app)
    for _ in range(3):
        send(run, store, app)  # due before the idle endpoint's delivery
    idle = make_endpoint(run, store, app, channels=["x"])
    send(run, store, app, channels=["x"])  # for both
    claimed = run(store.claim_due(1, 60_000, {busy.key: 0}))
    assert [d.endpoint_key for d in claimed] == [idle.key]


def test_a_hungry_endpoint_gets_more_than_its_share_but_never_past_its_room(
    run: Run, store: Store
) -> None:
    app = make_app(run, store)
    roomy = make_endpoint(run, store, app, channels=["r"])
    small = make_endpoint(run, store, app, channels=["s"])
    for _ in range(30):
        send(run, store, app, channels=["r"])
    for _ in range(5):
        send(run, store, app, channels=["s"])
    # A share is 20 each; the small endpoint uses 5, and the roomy one takes what
    # is left up to its room of 25, not the 35 the claim could still hold.
    claimed = run(store.claim_due(40, 60_000, {roomy.key: 25}))
    assert Counter(d.endpoint_key for d in claimed) == {roomy.key: 25, small.key: 5}


def test_a_claim_filled_by_equal_shares_stops_there(run: Run, store: Store) -> None:
    app = make_app(run, store)
    one, two = make_endpoint(run, store, app), make_endpoint(run, store, app)
    for _ in range(5):
        send(run, store, app)
    claimed = run(store.claim_due(2, 60_000))
    assert Counter(d.endpoint_key for d in claimed) == {one.key: 1, two.key: 1}


def test_deleting_an_endpoint_cancels_its_waiting_deliveries_at_once(
    run: Run, store: Store
) -> None:
    app = make_app(run, store)
    doomed, kept = make_endpoint(run, store, app), make_endpoint(run, store, app)
    send(run, store, app)
    run(store.delete_endpoint(doomed))
    # Cancelled in the deleting transaction, not left for a claim to find.
    status, claim_id, _ = _delivery_row(run, store, doomed.key)
    assert (status, claim_id) == (DeliveryStatus.CANCELED, None)
    assert _delivery_row(run, store, kept.key)[0] == DeliveryStatus.PENDING


def test_a_lane_left_out_of_a_small_claim_keeps_its_turn(run: Run, store: Store) -> None:
    app = make_app(run, store)
    older = make_endpoint(run, store, app, channels=["o"])
    newer = make_endpoint(run, store, app, channels=["n"])
    now = now_ms()
    send(run, store, app, channels=["o"], created_at=now - 3_000)
    send(run, store, app, channels=["o"], created_at=now - 2_000)
    send(run, store, app, channels=["n"], created_at=now - 1_000)
    # The first claim of one serves the endpoint with the older work; the other was
    # not served, so it goes next although the first still has older work waiting.
    taken = [run(store.claim_due(1, 60_000))[0].endpoint_key for _ in range(2)]
    assert taken == [older.key, newer.key]


def test_sqlite_finds_event_ids_past_two_statements_worth(run: Run, tmp_path: Path) -> None:
    """The inbound batch looks eventIds up in chunks of ROWS_PER_STATEMENT; every
    chunk must be read, however many there are."""
    from tidings.storage.sqlite import messages

    store = open_store(f"sqlite:///{tmp_path / 'ids.db'}", keys=TEST_KEYS)
    run(store.open())
    try:
        app = make_app(run, store)
        wanted = {f"evt-{n}" for n in range(messages.ROWS_PER_STATEMENT * 2 + 50)}
        for event_id in wanted:
            send(run, store, app, event_id=event_id)
        find = functools.partial(messages.with_event_ids, app=app, event_ids=wanted, since=0)
        assert isinstance(store, SqliteStore)
        found = run(store._writer.run(find))
        assert set(found) == wanted
    finally:
        run(store.close())
