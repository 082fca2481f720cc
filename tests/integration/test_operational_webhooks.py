"""Operational webhooks: managed through the SDK, signed like any other webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
from svix.api import (
    ApplicationIn,
    EndpointIn,
    EndpointPatch,
    MessageIn,
    OperationalWebhookEndpointIn,
    Svix,
)
from svix.exceptions import HttpError, HTTPValidationError

from tests.conftest import sdk
from tests.harness import ServerProcess
from tests.waiting import eventually
from tidings.testing import Receiver


@pytest.fixture
def long_retries(tmp_path: Path) -> Iterator[Svix]:
    """Six quick attempts, so a delivery can fail four times and then recover."""
    server = ServerProcess(tmp_path, retry_schedule="0,0.1,0.1,0.1,0.1,0.1").start()
    client = sdk(server)
    yield client
    client._httpx_client.close()
    server.stop()


def _listen(client: Svix, receiver: Receiver, types: list[str] | None = None) -> str:
    endpoint = client.operational_webhook.endpoint.create(
        OperationalWebhookEndpointIn(url=receiver.url("/ops"), event_types=types)
    )
    return client.operational_webhook.endpoint.get_secret(endpoint.id).key


def _events(receiver: Receiver, secret: str, kind: str, count: int = 1) -> list[dict[str, Any]]:
    def verified() -> list[dict[str, Any]]:
        found = []
        for request in receiver.received("/ops"):
            body = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
            if body["type"] == kind:
                found.append(body)
        return found

    events = eventually(verified, lambda found: len(found) >= count)
    assert len(events) >= count, f"no {kind} event arrived"
    return events


def test_operational_endpoints_are_managed_through_the_sdk(
    client: Svix, receiver: Receiver
) -> None:
    ops = client.operational_webhook.endpoint
    created = ops.create(OperationalWebhookEndpointIn(url=receiver.url("/ops"), uid="pager"))
    assert ops.get("pager").id == created.id
    assert [e.id for e in ops.list().data] == [created.id]
    assert ops.get_secret(created.id).key.startswith("whsec_")
    # The internal application that holds them is not a customer application.
    assert client.application.list().data == []
    ops.delete(created.id)
    assert ops.list().data == []


def test_endpoint_lifecycle_is_reported(client: Svix, receiver: Receiver) -> None:
    secret = _listen(client, receiver)
    app = client.application.create(ApplicationIn(name="Watched", uid="watched"))
    endpoint = client.endpoint.create(app.id, EndpointIn(url="https://example.com/hook")).id
    client.endpoint.patch(app.id, endpoint, EndpointPatch(disabled=True))
    client.endpoint.patch(app.id, endpoint, EndpointPatch(disabled=False))
    client.endpoint.delete(app.id, endpoint)

    (created,) = _events(receiver, secret, "endpoint.created")
    assert created["data"] == {
        "appId": app.id,
        "appUid": "watched",
        "endpointId": endpoint,
        "endpointUid": None,
    }
    for kind in ("endpoint.updated", "endpoint.disabled", "endpoint.enabled", "endpoint.deleted"):
        assert _events(receiver, secret, kind)[0]["data"]["endpointId"] == endpoint


def test_410_reports_an_automatic_disable(client: Svix, receiver: Receiver) -> None:
    secret = _listen(client, receiver, types=["endpoint.disabled"])
    receiver.respond("/gone", then=410)
    app = client.application.create(ApplicationIn(name="Gone")).id
    endpoint = client.endpoint.create(app, EndpointIn(url=receiver.url("/gone"))).id
    client.message.create(app, MessageIn(event_type="a", payload={}))
    (event,) = _events(receiver, secret, "endpoint.disabled")
    assert event["data"]["endpointId"] == endpoint
    assert event["data"]["trigger"] == "automatic"
    assert {json.loads(r.body)["type"] for r in receiver.received("/ops")} == {"endpoint.disabled"}


def test_exhausted_retries_are_reported(client: Svix, receiver: Receiver) -> None:
    secret = _listen(client, receiver)
    receiver.respond("/down", then=500)
    app = client.application.create(ApplicationIn(name="Down")).id
    client.endpoint.create(app, EndpointIn(url=receiver.url("/down")))
    msg = client.message.create(app, MessageIn(event_type="a", payload={}, event_id="evt-9"))
    (event,) = _events(receiver, secret, "message.attempt.exhausted")
    assert event["data"]["msgId"] == msg.id
    assert event["data"]["msgEventId"] == "evt-9"
    assert event["data"]["lastAttempt"]["responseStatusCode"] == 500


def test_failing_then_recovered_is_reported(long_retries: Svix, receiver: Receiver) -> None:
    secret = _listen(long_retries, receiver)
    receiver.respond("/flaky", [500, 500, 500, 500], then=200)
    app = long_retries.application.create(ApplicationIn(name="Flaky")).id
    long_retries.endpoint.create(app, EndpointIn(url=receiver.url("/flaky")))
    msg = long_retries.message.create(app, MessageIn(event_type="a", payload={})).id
    (failing,) = _events(receiver, secret, "message.attempt.failing")
    (recovered,) = _events(receiver, secret, "message.attempt.recovered")
    assert failing["data"]["msgId"] == recovered["data"]["msgId"] == msg
    assert recovered["data"]["lastAttempt"]["responseStatusCode"] == 200


def test_the_internal_application_cannot_be_reached_as_a_customer_app(client: Svix) -> None:
    client.operational_webhook.endpoint.create(
        OperationalWebhookEndpointIn(url="https://example.com/ops")
    )
    for call in (
        lambda: client.application.get("__tidings_operational__"),
        lambda: client.application.create(ApplicationIn(name="x", uid="__tidings_operational__")),
        lambda: client.application.upsert("__tidings_operational__", ApplicationIn(name="x")),
        lambda: client.endpoint.list("__tidings_operational__"),
    ):
        with pytest.raises((HttpError, HTTPValidationError)) as raised:
            call()
        assert raised.value.status_code in (404, 422)
