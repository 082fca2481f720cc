"""Rotating an endpoint's secret, end to end: what the receiver can verify with which key.

Each message is signed with the current secret and, alongside, with every retired secret
whose grace period has not ended, so a receiver that has not switched keys yet keeps
accepting deliveries until the grace period is over.
"""

from __future__ import annotations

import time

import standardwebhooks
from svix.api import ApplicationIn, EndpointIn, EndpointSecretRotateIn, MessageIn, Svix

from tidings.testing import Received, Receiver


def _verifies(secret: str, request: Received) -> bool:
    try:
        standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def _signatures(request: Received) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


def _endpoint(client: Svix, receiver: Receiver, path: str) -> tuple[str, str, str]:
    app = client.application.create(ApplicationIn(name="Rotation")).id
    endpoint = client.endpoint.create(app, EndpointIn(url=receiver.url(path))).id
    return app, endpoint, client.endpoint.get_secret(app, endpoint).key


def _deliver_one(client: Svix, receiver: Receiver, app: str, path: str) -> Received:
    already = len(receiver.received(path))
    client.message.create(app, MessageIn(event_type="a", payload={"n": already}))
    return receiver.wait_for(already + 1, path)[-1]


def test_the_old_secret_keeps_signing_during_the_grace_period(
    client: Svix, receiver: Receiver
) -> None:
    app, endpoint, first = _endpoint(client, receiver, "/grace")
    rotate = EndpointSecretRotateIn(grace_period_seconds=3600)
    second = client.endpoint.rotate_secret(app, endpoint, rotate).key
    third = client.endpoint.rotate_secret(app, endpoint, rotate).key

    delivered = _deliver_one(client, receiver, app, "/grace")
    # Signed with the current secret and both retired ones still in their grace period.
    assert len(_signatures(delivered)) == 3
    assert all(_verifies(secret, delivered) for secret in (first, second, third))


def test_a_rotation_without_grace_stops_the_old_secret_at_once(
    client: Svix, receiver: Receiver
) -> None:
    app, endpoint, old = _endpoint(client, receiver, "/now")
    rotate = EndpointSecretRotateIn(grace_period_seconds=0)
    new = client.endpoint.rotate_secret(app, endpoint, rotate).key

    delivered = _deliver_one(client, receiver, app, "/now")
    assert len(_signatures(delivered)) == 1
    assert _verifies(new, delivered)
    assert not _verifies(old, delivered)


def test_a_retired_secret_stops_signing_when_its_grace_period_ends(
    client: Svix, receiver: Receiver
) -> None:
    app, endpoint, old = _endpoint(client, receiver, "/ends")
    grace = 3
    rotated_at = time.monotonic()
    new = client.endpoint.rotate_secret(
        app, endpoint, EndpointSecretRotateIn(grace_period_seconds=grace)
    ).key
    during = _deliver_one(client, receiver, app, "/ends")
    assert _verifies(old, during) and _verifies(new, during)

    # Not synchronisation: the grace period is a span of wall-clock time.
    time.sleep(max(0.0, rotated_at + grace + 0.2 - time.monotonic()))
    after = _deliver_one(client, receiver, app, "/ends")
    assert len(_signatures(after)) == 1
    assert _verifies(new, after)
    assert not _verifies(old, after)
