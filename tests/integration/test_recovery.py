"""endpoint.recover and endpoint.replay_missing through the SDK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from svix.api import (
    ApplicationIn,
    EndpointIn,
    EndpointPatch,
    MessageIn,
    MessageStatus,
    RecoverIn,
    ReplayIn,
    Svix,
)

from tests.waiting import eventually
from tidings.testing import Receiver


def _since() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=5)


def test_recover_resends_failed_deliveries(client: Svix, receiver: Receiver) -> None:
    receiver.respond("/recover", then=500)
    app = client.application.create(ApplicationIn(name="Recover")).id
    endpoint = client.endpoint.create(app, EndpointIn(url=receiver.url("/recover"))).id
    msgs = [
        client.message.create(app, MessageIn(event_type="a", payload={"i": i})).id for i in range(3)
    ]
    for msg in msgs:
        eventually(
            lambda msg=msg: client.message_attempt.list_attempted_destinations(app, msg).data,
            lambda d: d[0].status == MessageStatus.FAIL,
        )
    failed_so_far = len(receiver.received("/recover"))
    assert failed_so_far == 9  # three attempts each

    receiver.respond("/recover", then=200)
    task = client.endpoint.recover(app, endpoint, RecoverIn(since=_since()))
    assert task.status.value == "finished"
    arrived = receiver.wait_for(failed_so_far + 3, "/recover")
    assert sorted(r.headers["webhook-id"] for r in arrived[failed_so_far:]) == sorted(msgs)


def test_replay_missing_sends_what_a_disabled_endpoint_never_got(
    client: Svix, receiver: Receiver
) -> None:
    app = client.application.create(ApplicationIn(name="Replay")).id
    endpoint = client.endpoint.create(
        app, EndpointIn(url=receiver.url("/replay"), disabled=True, event_types=["wanted"])
    ).id
    missed = client.message.create(app, MessageIn(event_type="wanted", payload={})).id
    client.message.create(app, MessageIn(event_type="unwanted", payload={}))
    client.endpoint.patch(app, endpoint, EndpointPatch(disabled=False))
    assert receiver.received("/replay") == []

    client.endpoint.replay_missing(app, endpoint, ReplayIn(since=_since()))
    (arrived,) = receiver.wait_for(1, "/replay")
    assert arrived.headers["webhook-id"] == missed
    # A second replay finds nothing missing.
    client.endpoint.replay_missing(app, endpoint, ReplayIn(since=_since()))
    after = client.message.create(app, MessageIn(event_type="wanted", payload={})).id
    arrivals = receiver.wait_for(2, "/replay")
    assert [r.headers["webhook-id"] for r in arrivals] == [missed, after]
