"""Receiving webhooks: sources and their forward targets through the official SDK,
verified inbound requests stored once and forwarded by the delivery engine."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import httpx
import pytest
import standardwebhooks
import stripe
from svix.api import IngestEndpointIn, IngestSourceIn, Svix
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import (
    GithubConfig,
    GithubConfigOut,
    IngestEndpointHeadersIn,
    IngestEndpointSecretIn,
    IngestEndpointUpsertIn,
    StripeConfig,
)

from tests.harness import ServerProcess
from tests.waiting import eventually
from tidings.testing import Receiver

GITHUB_SECRET = "gh-webhook-secret"
# Not canonical JSON: a re-serialised body would differ, and so not verify.
BODY = b'{ "action":"opened",  "number": 7, "title": "caf\xc3\xa9 \xe2\x82\xac" }\n'


def github_source(client: Svix, uid: str | None = None) -> tuple[str, str]:
    source = client.ingest.source.create(
        IngestSourceIn(
            name="GitHub", uid=uid, type="github", config=GithubConfig(secret=GITHUB_SECRET)
        )
    )
    assert source.ingest_url is not None
    return source.id, source.ingest_url


def github_post(
    url: str, body: bytes = BODY, delivery: str | None = None, secret: str = GITHUB_SECRET
) -> httpx.Response:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Event": "pull_request",
        "Content-Type": "application/json",
    }
    return httpx.post(url, content=body, headers=headers, timeout=10)


def forward_to(client: Svix, source_id: str, receiver: Receiver, path: str) -> str:
    """Add a forward target; return its signing secret."""
    endpoint = client.ingest.endpoint.create(source_id, IngestEndpointIn(url=receiver.url(path)))
    return client.ingest.endpoint.get_secret(source_id, endpoint.id).key


def test_sources_round_trip_through_the_sdk(client: Svix, server: ServerProcess) -> None:
    sources = client.ingest.source
    source_id, url = github_source(client, uid="gh")
    assert source_id.startswith("src_") and url.startswith(server.url + "/ingest/in/")
    got = sources.get("gh")
    assert (got.id, got.name, got.type, got.ingest_url) == (source_id, "GitHub", "github", url)
    assert got.config == GithubConfigOut()  # secrets are never shown back
    assert [s.id for s in sources.list().data] == [source_id]
    updated = sources.upsert(
        source_id,
        IngestSourceIn(
            name="Renamed",
            type="github",
            config=GithubConfig(secret="new"),
            metadata={"team": "core"},
        ),
    )
    assert (updated.name, updated.metadata, updated.ingest_url) == (
        "Renamed",
        {"team": "core"},
        url,
    )
    assert github_post(url, secret="new").status_code == 200
    assert github_post(url).status_code == 401
    # Several secrets verify while rotating (a config the SDK's typed models cannot send).
    rotating = {"name": "Renamed", "type": "github", "config": {"secrets": ["new", "old"]}}
    auth = {"Authorization": f"Bearer {server.token}"}
    put = httpx.put(f"{server.url}/ingest/api/v1/source/{source_id}", json=rotating, headers=auth)
    assert put.status_code == 200, put.text
    assert github_post(url, secret="old").status_code == 200
    assert github_post(url, secret="new").status_code == 200
    rotated = sources.rotate_token(source_id).ingest_url
    assert rotated != url and sources.get(source_id).ingest_url == rotated
    assert github_post(rotated, secret="new").status_code == 200
    assert github_post(url, secret="new").status_code == 200  # the old URL, for 48 h
    # The source's internal application is nobody's customer application.
    assert client.application.list().data == []
    sources.delete(source_id)
    with pytest.raises(HttpError) as missing:
        sources.get(source_id)
    assert missing.value.status_code == 404
    assert github_post(rotated).status_code == 404


def test_invalid_configs_are_refused_naming_the_problem(client: Svix) -> None:
    cases = [
        ("stripe", {}, "'secrets' must be a non-empty list"),
        ("github", {"secrett": "x"}, "unknown config keys ['secrett']"),
        ("cron", {}, "unknown source type 'cron'"),
    ]
    for kind, config, problem in cases:
        with pytest.raises(HTTPValidationError) as refused:
            client.ingest.source.create(
                IngestSourceIn.model_construct(name="x", type=kind, config=config)
            )
        assert problem in refused.value.detail[0].msg


def test_ingest_endpoints_round_trip_through_the_sdk(client: Svix, receiver: Receiver) -> None:
    source_id, _ = github_source(client)
    endpoints = client.ingest.endpoint
    created = endpoints.create(
        source_id, IngestEndpointIn(url=receiver.url("/a"), uid="first", metadata={"k": "v"})
    )
    assert created.id.startswith("ep_") and endpoints.get(source_id, "first").id == created.id
    assert [e.id for e in endpoints.list(source_id).data] == [created.id]
    updated = endpoints.upsert(
        source_id, created.id, IngestEndpointUpsertIn(url=receiver.url("/b"), description="d")
    )
    assert (updated.url, updated.description) == (receiver.url("/b"), "d")
    secret = endpoints.get_secret(source_id, created.id).key
    endpoints.rotate_secret(source_id, created.id, IngestEndpointSecretIn())
    assert endpoints.get_secret(source_id, created.id).key not in {secret, ""}
    endpoints.set_headers(source_id, created.id, IngestEndpointHeadersIn(headers={"X-T": "1"}))
    assert endpoints.get_headers(source_id, created.id).headers == {"X-T": "1"}
    endpoints.delete(source_id, created.id)
    assert endpoints.list(source_id).data == []
    # An endpoint of one source is not reachable through another.
    other, _ = github_source(client)
    kept = endpoints.create(source_id, IngestEndpointIn(url=receiver.url("/c")))
    with pytest.raises(HttpError) as missing:
        endpoints.get(other, kept.id)
    assert missing.value.status_code == 404


def test_github_event_is_stored_and_forwarded_byte_for_byte(
    client: Svix, server: ServerProcess, receiver: Receiver
) -> None:
    source_id, url = github_source(client)
    secret = forward_to(client, source_id, receiver, "/gh")
    answer = github_post(url)
    assert answer.status_code == 200, answer.text
    assert "server" not in answer.headers  # a prober learns nothing of our software
    msg_id = answer.json()["id"]
    [forwarded] = receiver.wait_for(1, "/gh")
    assert forwarded.body == BODY
    standardwebhooks.Webhook(secret).verify(forwarded.body, forwarded.headers)
    assert forwarded.headers["webhook-id"] == msg_id
    # The stored event reads back through the source, non-JSON bodies included.
    stored = server.get_json(f"/ingest/api/v1/source/{source_id}/msg/{msg_id}")
    assert stored["payload"] == json.loads(BODY)


def test_stripe_event_is_accepted_and_forwarded(client: Svix, receiver: Receiver) -> None:
    stripe_secret = "whsec_" + "t" * 32
    source = client.ingest.source.create(
        IngestSourceIn(name="Stripe", type="stripe", config=StripeConfig(secret=stripe_secret))
    )
    assert source.ingest_url is not None
    secret = forward_to(client, source.id, receiver, "/stripe")
    body = b'{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount":4200}}}'
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), stripe_secret)
    answer = httpx.post(source.ingest_url, content=body, headers={"Stripe-Signature": header})
    assert answer.status_code == 200, answer.text
    [forwarded] = receiver.wait_for(1, "/stripe")
    assert forwarded.body == body
    standardwebhooks.Webhook(secret).verify(forwarded.body, forwarded.headers)


def test_bad_signature_is_refused_recorded_and_not_forwarded(
    client: Svix, server: ServerProcess, receiver: Receiver
) -> None:
    source_id, url = github_source(client)
    forward_to(client, source_id, receiver, "/gh")
    answer = github_post(url, secret="wrong")
    assert answer.status_code == 401
    assert answer.json()["detail"] == "bad signature: X-Hub-Signature-256 does not match"
    unsigned = httpx.post(url, content=BODY)
    assert unsigned.status_code == 401
    assert unsigned.json()["detail"].startswith("missing header")
    rejections = server.get_json(f"/ingest/api/v1/source/{source_id}/rejections")["data"]
    assert [(r["statusCode"], r["reason"]) for r in rejections] == [
        (401, "missing header"),
        (401, "bad signature"),
    ]
    # Nothing was kept (a source keeps an event before it answers), so nothing can be sent.
    assert server.get_json(f"/ingest/api/v1/source/{source_id}/msg")["data"] == []
    assert receiver.received() == []


def test_duplicate_delivery_is_acknowledged_but_forwarded_once(
    client: Svix, server: ServerProcess, receiver: Receiver
) -> None:
    source_id, url = github_source(client)
    forward_to(client, source_id, receiver, "/gh")
    first = github_post(url, delivery="delivery-1")
    again = github_post(url, delivery="delivery-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    other = github_post(url, body=b'{"zen": "other"}', delivery="delivery-2")
    assert other.json()["duplicate"] is False
    # Two events kept, not three: the repeat made no message, so nothing else can be sent.
    kept = server.get_json(f"/ingest/api/v1/source/{source_id}/msg")["data"]
    assert sorted(m["id"] for m in kept) == sorted([first.json()["id"], other.json()["id"]])
    ids = sorted(r.headers["webhook-id"] for r in receiver.wait_for(2, "/gh"))
    assert ids == sorted(m["id"] for m in kept)


def test_a_captured_request_replayed_under_a_new_delivery_id_runs_nothing(
    client: Svix, server: ServerProcess, receiver: Receiver
) -> None:
    """GitHub signs the body but not the delivery id, nor any time: the body is
    what makes a repeat."""
    source_id, url = github_source(client)
    forward_to(client, source_id, receiver, "/gh")
    first = github_post(url, delivery="original")
    replayed = github_post(url, delivery="forged-fresh-id")
    assert replayed.json() == {"id": first.json()["id"], "duplicate": True}
    kept = server.get_json(f"/ingest/api/v1/source/{source_id}/msg")["data"]
    assert [m["id"] for m in kept] == [first.json()["id"]]
    (forwarded,) = receiver.wait_for(1, "/gh")
    assert forwarded.headers["webhook-id"] == first.json()["id"]


def test_size_method_and_token_are_checked(client: Svix, server: ServerProcess) -> None:
    source_id, url = github_source(client)
    too_big = b"x" * (1024 * 1024 + 1)
    assert github_post(url, body=too_big).status_code == 413
    assert github_post(url, body=b"x" * (1024 * 1024)).status_code == 200
    assert httpx.get(url).status_code == 405
    assert httpx.put(url, content=BODY).status_code == 405
    assert httpx.get(url).headers["allow"] == "POST"
    assert github_post(server.url + "/ingest/in/unknown-token").status_code == 404
    assert github_post(url + "/").status_code == 200  # one trailing slash is tolerated
    assert github_post(url + "/more").status_code == 404
    rejections = server.get_json(f"/ingest/api/v1/source/{source_id}/rejections")["data"]
    assert rejections[0]["statusCode"] == 413


def test_forwarding_retries_and_records_attempts(
    client: Svix, server: ServerProcess, receiver: Receiver
) -> None:
    receiver.respond("/flaky", [500, 503], then=200)
    source_id, url = github_source(client)
    forward_to(client, source_id, receiver, "/flaky")
    msg_id = github_post(url).json()["id"]
    receiver.wait_for(3, "/flaky")
    path = f"/ingest/api/v1/source/{source_id}/attempt/msg/{msg_id}"
    attempts = eventually(lambda: server.get_json(path)["data"], lambda found: len(found) == 3)
    assert sorted(a["responseStatusCode"] for a in attempts) == [200, 500, 503]
    assert all(r.body == BODY for r in receiver.received("/flaky"))
