"""Delivery behaviour through the real server: fan-out filters, retries, idempotency, restarts."""

from __future__ import annotations

from pathlib import Path

import standardwebhooks
from svix.api import (
    ApplicationIn,
    EndpointIn,
    MessageAttemptOut,
    MessageCreateOptions,
    MessageEndpointOut,
    MessageIn,
    MessageStatus,
    Svix,
)

from tests.conftest import sdk
from tests.harness import ServerProcess
from tests.waiting import eventually
from tidings.testing import Receiver


def _app(client: Svix) -> str:
    return client.application.create(ApplicationIn(name="Filters")).id


def test_event_type_filter_selects_endpoints(client: Svix, receiver: Receiver) -> None:
    app = _app(client)
    client.endpoint.create(app, EndpointIn(url=receiver.url("/all")))
    client.endpoint.create(app, EndpointIn(url=receiver.url("/paid"), event_types=["invoice.paid"]))
    client.endpoint.create(app, EndpointIn(url=receiver.url("/other"), event_types=["user.new"]))

    client.message.create(app, MessageIn(event_type="invoice.paid", payload={"n": 1}))
    client.message.create(app, MessageIn(event_type="invoice.void", payload={"n": 2}))

    assert len(receiver.wait_for(2, "/all")) == 2
    (paid,) = receiver.wait_for(1, "/paid")
    assert b'"n":1' in paid.body
    client.message.create(app, MessageIn(event_type="user.new", payload={"n": 3}))
    receiver.wait_for(1, "/other")
    receiver.wait_for(3, "/all")
    assert len(receiver.received("/paid")) == 1


def test_channel_filter_selects_endpoints(client: Svix, receiver: Receiver) -> None:
    app = _app(client)
    client.endpoint.create(app, EndpointIn(url=receiver.url("/eu"), channels=["eu"]))
    client.endpoint.create(app, EndpointIn(url=receiver.url("/any")))

    client.message.create(app, MessageIn(event_type="a", payload={"n": 1}, channels=["us"]))
    client.message.create(app, MessageIn(event_type="a", payload={"n": 2}, channels=["eu", "x"]))
    client.message.create(app, MessageIn(event_type="a", payload={"n": 3}))

    assert len(receiver.wait_for(3, "/any")) == 3
    (eu,) = receiver.received("/eu")
    assert b'"n":2' in eu.body


def test_disabled_endpoint_gets_nothing(client: Svix, receiver: Receiver) -> None:
    app = _app(client)
    client.endpoint.create(app, EndpointIn(url=receiver.url("/off"), disabled=True))
    client.endpoint.create(app, EndpointIn(url=receiver.url("/on")))
    client.message.create(app, MessageIn(event_type="a", payload={}))
    receiver.wait_for(1, "/on")
    assert receiver.received("/off") == []


def test_two_failures_then_success_takes_exactly_three_attempts(
    client: Svix, receiver: Receiver
) -> None:
    receiver.respond("/flaky", [500, 503], then=200)
    app = _app(client)
    endpoint = client.endpoint.create(app, EndpointIn(url=receiver.url("/flaky")))
    msg = client.message.create(app, MessageIn(event_type="a", payload={"k": "v"}))

    arrived = receiver.wait_for(3, "/flaky")
    assert {r.headers["webhook-id"] for r in arrived} == {msg.id}
    secret = client.endpoint.get_secret(app, endpoint.id).key
    for request in arrived:
        standardwebhooks.Webhook(secret).verify(request.body, request.headers)

    attempts = _wait_for_attempts(client, app, msg.id, 3)
    codes = sorted(a.response_status_code for a in attempts)
    assert codes == [200, 500, 503]
    assert [a.status for a in attempts].count(MessageStatus.SUCCESS) == 1
    (destination,) = client.message_attempt.list_attempted_destinations(app, msg.id).data
    assert destination.status == MessageStatus.SUCCESS
    assert len(receiver.received("/flaky")) == 3


def test_exhausted_retries_mark_the_delivery_failed(client: Svix, receiver: Receiver) -> None:
    receiver.respond("/down", then=500)
    app = _app(client)
    client.endpoint.create(app, EndpointIn(url=receiver.url("/down")))
    msg = client.message.create(app, MessageIn(event_type="a", payload={}))
    _wait_for_attempts(client, app, msg.id, 3)
    destination = _wait_for_status(client, app, msg.id, MessageStatus.FAIL)
    assert destination.next_attempt is None
    assert len(receiver.received("/down")) == 3  # the schedule has three entries


def test_same_idempotency_key_gives_one_message_and_one_delivery(
    client: Svix, receiver: Receiver
) -> None:
    app = _app(client)
    client.endpoint.create(app, EndpointIn(url=receiver.url("/once")))
    body = MessageIn(event_type="a", payload={"x": 1})
    options = MessageCreateOptions(idempotency_key="order-42")
    first = client.message.create(app, body, options)
    second = client.message.create(app, body, options)
    assert first.id == second.id
    receiver.wait_for(1, "/once")
    third = client.message.create(app, MessageIn(event_type="a", payload={"x": 2}))
    receiver.wait_for(2, "/once")
    assert [r.headers["webhook-id"] for r in receiver.received("/once")] == [first.id, third.id]
    listed = client.message.list(app).data
    assert sorted(m.id for m in listed) == sorted([first.id, third.id])


def test_pending_deliveries_survive_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    """Messages accepted by an API-only process are delivered by the next `serve`."""
    api = ServerProcess(tmp_path, command="api").start()
    client = sdk(api)
    app = _app(client)
    client.endpoint.create(app, EndpointIn(url=receiver.url("/later")))
    ids = {
        client.message.create(app, MessageIn(event_type="a", payload={"i": i})).id
        for i in range(20)
    }
    client._httpx_client.close()
    assert api.stop() == 0
    assert receiver.received() == []

    serve = api.successor(command="serve").start()
    try:
        arrived = receiver.wait_for(20, "/later")
        assert {r.headers["webhook-id"] for r in arrived} == ids
    finally:
        serve.stop()


def test_sigterm_while_retries_are_pending_keeps_them(tmp_path: Path, receiver: Receiver) -> None:
    receiver.respond("/slow-start", [500], then=200)
    first = ServerProcess(tmp_path, retry_schedule="0,1.5").start()
    client = sdk(first)
    app = _app(client)
    client.endpoint.create(app, EndpointIn(url=receiver.url("/slow-start")))
    msg = client.message.create(app, MessageIn(event_type="a", payload={}))
    receiver.wait_for(1, "/slow-start")
    client._httpx_client.close()
    assert first.stop() == 0  # stops before the retry falls due

    again = first.successor().start()
    try:
        arrived = receiver.wait_for(2, "/slow-start")
        assert [r.headers["webhook-id"] for r in arrived] == [msg.id, msg.id]
    finally:
        again.stop()


def _wait_for_attempts(client: Svix, app: str, msg_id: str, count: int) -> list[MessageAttemptOut]:
    attempts = eventually(
        lambda: client.message_attempt.list_by_msg(app, msg_id).data,
        lambda found: len(found) >= count,
    )
    assert len(attempts) == count
    return attempts


def _wait_for_status(
    client: Svix, app: str, msg_id: str, status: MessageStatus
) -> MessageEndpointOut:
    (destination,) = eventually(
        lambda: client.message_attempt.list_attempted_destinations(app, msg_id).data,
        lambda found: len(found) == 1 and found[0].status == status,
    )
    assert destination.status == status
    return destination
