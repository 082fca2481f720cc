"""The README's promise: create an app, an endpoint and a message; a verified POST arrives."""

from __future__ import annotations

import standardwebhooks
from svix.api import ApplicationIn, EndpointIn, MessageIn, Svix

from tidings.testing import Receiver


def test_message_is_delivered_signed_and_verifiable(client: Svix, receiver: Receiver) -> None:
    app = client.application.create(ApplicationIn(name="Acme", uid="acme"))
    endpoint = client.endpoint.create(app.id, EndpointIn(url=receiver.url("/hook")))
    message = client.message.create(
        app.id, MessageIn(event_type="invoice.paid", payload={"id": "inv_1", "amount": 4200})
    )

    (request,) = receiver.wait_for(1, "/hook")

    secret = client.endpoint.get_secret(app.id, endpoint.id).key
    verified = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    assert verified == {"id": "inv_1", "amount": 4200}
    assert request.headers["webhook-id"] == message.id
    assert request.headers["svix-id"] == message.id
    assert request.headers["svix-signature"] == request.headers["webhook-signature"]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("Tidings/")
