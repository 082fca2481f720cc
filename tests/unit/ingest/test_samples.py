"""Sample events: every one, signed for its source type, verifies with Tidings' own
verifier for that type and, where the provider publishes a library, with (and equal
to) what that library computes; a changed body or a wrong secret does not verify."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest
import standardwebhooks
import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import WebhookVerificationError
from svix.webhooks import Webhook as SvixWebhook
from twilio.request_validator import RequestValidator

from tidings.client import samples
from tidings.client.samples import Options, SampleError, SignedRequest
from tidings.ingest.verify import (
    SOURCE_TYPES,
    InboundRequest,
    VerificationFailed,
    Verified,
    build_verifier,
)

URL = "https://hooks.example.com/ingest/in/tok_123?team=core&x=%20y"
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# Each type's source config (as the verifier takes it): the secret and, for the
# configurable types, the options the sample is signed with.
CONFIGS: dict[str, dict[str, Any]] = {
    "generic-webhook": {},
    "github": {"secrets": ["gh-webhook-secret"]},
    "stripe": {"secrets": ["whsec_" + "s" * 32]},
    "shopify": {"secrets": ["shpss_0123456789abcdef0123456789abcdef"]},
    "slack": {"secrets": ["8f742231b10e8888abcd99yyyzzz85a5"]},
    "svix": {"secrets": [SW_SECRET]},
    "standard-webhooks": {"secrets": [SW_SECRET]},
    "gitlab": {"secrets": ["glpat-token-echoed"]},
    "twilio": {"secrets": ["12345678901234567890123456789012"]},
    "hmac": {"secrets": ["hmac-secret"], "header": "X-Signature", "prefix": "sha256="},
    "basic-auth": {"secrets": ["hooks:pa:ss"]},
    "api-key": {"secrets": ["key-123"], "header": "Authorization", "prefix": "Bearer "},
    "zoom": {"secrets": ["zoom-secret-token"]},
}
# Types whose signature covers the body; the others send a credential only.
BODY_SIGNED = {
    "github",
    "stripe",
    "shopify",
    "slack",
    "svix",
    "standard-webhooks",
    "twilio",
    "hmac",
    "zoom",
}
CREDENTIAL_ONLY = {"gitlab", "basic-auth", "api-key"}
# Requests that are a challenge, answered rather than stored.
HANDSHAKES = {("slack", "url_verification"), ("zoom", "endpoint.url_validation")}


def every_sample() -> Iterator[tuple[str, str]]:
    for source_type, provider in samples.PROVIDERS.items():
        for event in provider.events:
            yield source_type, event


def secret_of(source_type: str) -> str | None:
    listed = CONFIGS[source_type].get("secrets")
    return listed[0] if listed else None


def sample(source_type: str, event: str | None = None, now: int | None = None) -> SignedRequest:
    return samples.build(
        source_type,
        event,
        url=URL,
        secret=secret_of(source_type),
        options=Options.from_config(CONFIGS[source_type]),
        now=now,
    )


def verify(
    source_type: str,
    request: SignedRequest,
    body: bytes | None = None,
    config: dict[str, Any] | None = None,
) -> Verified:
    verifier = build_verifier(source_type, CONFIGS[source_type] if config is None else config)
    inbound = InboundRequest(
        "POST", request.url, request.headers, request.body if body is None else body, time.time()
    )
    return verifier.verify(inbound)


def tampered(request: SignedRequest) -> bytes:
    """The body with one value changed and its length kept."""
    body = request.body
    for old, new in ((b"e", b"E"), (b"1", b"2"), (b"a", b"b")):
        if old in body:
            return body.replace(old, new, 1)
    raise AssertionError("nothing to tamper with")


def test_every_source_type_has_samples_and_a_default() -> None:
    assert tuple(samples.PROVIDERS) == SOURCE_TYPES
    for source_type, provider in samples.PROVIDERS.items():
        assert len(provider.events) >= 3, source_type
        assert samples.default_event(source_type) in samples.event_names(source_type)


@pytest.mark.parametrize(("source_type", "event"), list(every_sample()))
def test_sample_verifies_with_our_verifier(source_type: str, event: str) -> None:
    request = sample(source_type, event)
    result = verify(source_type, request)
    assert (result.handshake is not None) == ((source_type, event) in HANDSHAKES)
    if source_type in BODY_SIGNED:
        with pytest.raises(VerificationFailed) as caught:
            verify(source_type, request, tampered(request))
        assert caught.value.reason == "bad signature"


@pytest.mark.parametrize("source_type", sorted(BODY_SIGNED | CREDENTIAL_ONLY))
def test_a_wrong_secret_does_not_verify(source_type: str) -> None:
    other = {
        "stripe": "whsec_" + "o" * 32,
        "svix": "whsec_" + "A" * 32,
        "standard-webhooks": "whsec_" + "A" * 32,
        "basic-auth": "hooks:other",
    }
    config = {**CONFIGS[source_type], "secrets": [other.get(source_type, "other-secret")]}
    with pytest.raises(VerificationFailed, match="bad signature"):
        verify(source_type, sample(source_type), config=config)


def test_the_generic_webhook_signs_nothing_and_verifies_anything() -> None:
    request = sample("generic-webhook")
    assert not {"authorization", "webhook-signature"} & {h.lower() for h in request.headers}
    assert (
        verify("generic-webhook", request, b"anything").delivery_id
        == (request.headers["Idempotency-Key"])
    )


@pytest.mark.parametrize(("source_type", "event"), list(every_sample()))
def test_payload_is_realistic_and_names_its_event_where_the_provider_does(
    source_type: str, event: str
) -> None:
    request = sample(source_type, event)
    assert len(request.body) <= 2048
    if (source_type, event) not in HANDSHAKES:
        assert len(request.body) >= 300
    assert event_name(source_type, request) == event


def event_name(source_type: str, request: SignedRequest) -> str:
    headers = {k.lower(): v for k, v in request.headers.items()}
    if source_type == "twilio":
        params = dict(parse_qsl(request.body.decode()))
        assert headers["content-type"] == "application/x-www-form-urlencoded"
        return {"received": "sms", "ringing": "call", "delivered": "message-status"}[
            params.get("SmsStatus", params.get("CallStatus", ""))
        ]
    payload = json.loads(request.body)
    if source_type == "github":
        return headers["x-github-event"]
    if source_type == "shopify":
        return headers["x-shopify-topic"]
    if source_type == "gitlab":
        kinds = {
            "Push Hook": "push",
            "Merge Request Hook": "merge_request",
            "Pipeline Hook": "pipeline",
        }
        assert kinds[headers["x-gitlab-event"]] == payload["object_kind"]
        return str(payload["object_kind"])
    if source_type == "slack":
        inner = payload.get("event", {}).get("type")
        return str(inner or payload["type"])
    if source_type == "zoom":
        return str(payload["event"])
    return str(payload["type"])  # Stripe, Standard Webhooks and the generic senders


@pytest.mark.parametrize("source_type", SOURCE_TYPES)
def test_delivery_ids_are_fresh_on_every_send(source_type: str) -> None:
    first, second = (
        verify(source_type, sample(source_type)),
        verify(source_type, sample(source_type)),
    )
    if source_type == "zoom":  # Zoom sends no delivery id
        assert first.delivery_id is None
    else:
        assert first.delivery_id and second.delivery_id
        assert first.delivery_id != second.delivery_id


@pytest.mark.parametrize(
    ("source_type", "header"),
    [
        ("github", "X-GitHub-Delivery"),
        ("shopify", "X-Shopify-Webhook-Id"),
        ("svix", "svix-id"),
        ("standard-webhooks", "webhook-id"),
        ("gitlab", "Idempotency-Key"),
        ("twilio", "I-Twilio-Idempotency-Token"),
    ],
)
def test_delivery_id_is_in_the_provider_header(source_type: str, header: str) -> None:
    request = sample(source_type)
    assert verify(source_type, request).delivery_id == request.headers[header]


def test_handshakes_are_answered_as_the_provider_expects() -> None:
    slack = sample("slack", "url_verification")
    handshake = verify("slack", slack).handshake
    assert handshake is not None
    assert handshake[1] == json.loads(slack.body)["challenge"].encode()
    zoom = sample("zoom", "endpoint.url_validation")
    handshake = verify("zoom", zoom).handshake
    assert handshake is not None
    answer = json.loads(handshake[1])
    assert answer["plainToken"] == json.loads(zoom.body)["payload"]["plainToken"]


# --- The providers' own libraries -------------------------------------------------------


@pytest.mark.parametrize("event", samples.event_names("stripe"))
def test_stripe_library_computes_the_same_header_and_accepts_it(event: str) -> None:
    secret = secret_of("stripe")
    assert secret is not None
    now = int(time.time())
    request = sample("stripe", event, now)
    header = request.headers["Stripe-Signature"]
    assert header == stripe.WebhookSignature.generate_signature_header(
        request.body.decode(), secret, timestamp=now
    )
    stripe.WebhookSignature.verify_header(request.body, header, secret, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(tampered(request), header, secret, tolerance=300)


@pytest.mark.parametrize("event", samples.event_names("slack"))
def test_slack_sdk_computes_the_same_signature_and_accepts_it(event: str) -> None:
    secret = secret_of("slack")
    assert secret is not None
    request = sample("slack", event)
    timestamp = request.headers["X-Slack-Request-Timestamp"]
    verifier = SignatureVerifier(secret)
    expected = verifier.generate_signature(timestamp=timestamp, body=request.body)
    assert request.headers["X-Slack-Signature"] == expected
    assert verifier.is_valid_request(request.body, request.headers)
    assert not verifier.is_valid_request(tampered(request), request.headers)


@pytest.mark.parametrize(
    ("source_type", "prefix", "library"),
    [("svix", "svix", SvixWebhook), ("standard-webhooks", "webhook", standardwebhooks.Webhook)],
)
@pytest.mark.parametrize("event", samples.event_names("svix"))
def test_svix_and_standardwebhooks_libraries_agree(
    source_type: str, prefix: str, library: Any, event: str
) -> None:
    request = sample(source_type, event)
    msg_id, timestamp = request.headers[f"{prefix}-id"], request.headers[f"{prefix}-timestamp"]
    signer = library(SW_SECRET)
    when = datetime.fromtimestamp(int(timestamp), UTC)
    assert request.headers[f"{prefix}-signature"] == signer.sign(
        msg_id, when, request.body.decode()
    )
    signer.verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        signer.verify(tampered(request), request.headers)


@pytest.mark.parametrize("event", samples.event_names("twilio"))
def test_twilio_library_computes_the_same_signature_for_the_url_sent_to(event: str) -> None:
    token = secret_of("twilio")
    assert token is not None
    request = sample("twilio", event)
    params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    validator = RequestValidator(token)
    signature = request.headers["X-Twilio-Signature"]
    assert signature == validator.compute_signature(URL, params)
    assert validator.validate(URL, params, signature)
    assert not validator.validate(URL.replace("core", "cure"), params, signature)
    with pytest.raises(VerificationFailed, match="bad signature"):
        moved = SignedRequest(URL + "&y=1", request.headers, request.body)
        verify("twilio", moved)


# --- The configurable types -----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"header": "X-Hub-Signature", "algorithm": "sha1", "prefix": "sha1="},
        {"header": "X-Signature", "encoding": "base64"},
        {"header": "X-Sig-512", "algorithm": "sha512", "id_header": "X-Request-Id"},
    ],
)
def test_hmac_follows_the_configured_header_algorithm_encoding_and_prefix(
    options: dict[str, str],
) -> None:
    config = {"secrets": ["hmac-secret"], **options}
    request = samples.build(
        "hmac", url=URL, secret="hmac-secret", options=Options.from_config(config)
    )
    assert request.headers[options["header"]].startswith(options.get("prefix", ""))
    result = verify("hmac", request, config=config)
    assert result.delivery_id == request.headers[options.get("id_header", "Idempotency-Key")]
    with pytest.raises(VerificationFailed, match="bad signature"):
        verify("hmac", request, tampered(request), config=config)


def test_api_key_defaults_to_x_api_key_and_basic_auth_encodes_user_and_password() -> None:
    config = {"secrets": ["key-123"]}
    request = samples.build("api-key", url=URL, secret="key-123")
    assert request.headers["X-API-Key"] == "key-123"
    assert verify("api-key", request, config=config)
    basic = sample("basic-auth")
    assert basic.headers["Authorization"] == "Basic aG9va3M6cGE6c3M="  # hooks:pa:ss


@pytest.mark.parametrize(
    ("source_type", "event", "secret", "options", "problem"),
    [
        ("cron", None, "s", Options(), "unknown source type 'cron'"),
        ("github", "pushed", "s", Options(), "no sample event 'pushed'; choose one of: push,"),
        ("github", None, None, Options(), "needs the source's secret"),
        ("github", None, "s", Options(header="X"), "github takes no --header"),
        ("hmac", None, "s", Options(), "hmac needs --header"),
        ("hmac", None, "s", Options(header="X", algorithm="md5"), "--algorithm must be one of"),
        ("basic-auth", None, "nocolon", Options(), "'user:password'"),
        ("svix", None, "not-base64!", Options(), "secret must be base64"),
    ],
)
def test_bad_input_is_a_sample_error_naming_the_problem(
    source_type: str, event: str | None, secret: str | None, options: Options, problem: str
) -> None:
    with pytest.raises(SampleError) as caught:
        samples.build(source_type, event, url=URL, secret=secret, options=options)
    assert problem in str(caught.value)


def test_options_from_config_refuses_unknown_keys_and_non_strings() -> None:
    with pytest.raises(SampleError, match="unknown options"):
        Options.from_config({"headr": "X"})
    with pytest.raises(SampleError, match="must be a string"):
        Options.from_config({"header": 1})
