"""Our inbound verifiers against the providers' own signing code, and back.

Each test signs with the provider's installed library (pinned in pyproject's test
extra) and verifies with ours, so a drift between our reading of a scheme and the
provider's code fails here rather than in production. Where a library can verify,
it is also shown accepting what our own signer produces.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import standardwebhooks
import stripe
from slack_sdk.signature import SignatureVerifier
from svix.webhooks import Webhook as SvixWebhook
from twilio.request_validator import RequestValidator

from tidings.ingest.verify import InboundRequest, VerificationFailed, Verified, build_verifier
from tidings.signing import standard

NOW = 1_700_000_000
BODY = b'{"type":"invoice.paid","data":{"amount":4200,"note":"caf\xc3\xa9 \xe2\x82\xac"}}'


def request(
    headers: dict[str, str], body: bytes = BODY, now: float = NOW, url: str = "https://h/in"
) -> InboundRequest:
    return InboundRequest("POST", url, headers, body, now)


# --- Stripe ---------------------------------------------------------------------------


def test_stripe_library_header_verifies() -> None:
    secret = "whsec_" + "s" * 32
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), secret, timestamp=NOW)
    verifier = build_verifier("stripe", {"secrets": ["whsec_old", secret]})
    assert verifier.verify(request({"Stripe-Signature": header})) == Verified(None)


def test_stripe_library_agrees_on_what_fails() -> None:
    secret = "whsec_test"
    event = b'{"id":"evt_123","object":"event"}'
    header = stripe.WebhookSignature.generate_signature_header(
        event.decode(), secret, timestamp=int(time.time())
    )
    ours = build_verifier("stripe", {"secrets": [secret]})
    assert ours.verify(request({"Stripe-Signature": header}, event, time.time())).delivery_id == (
        "evt_123"
    )
    stripe.WebhookSignature.verify_header(event, header, secret, tolerance=300)
    tampered = event.replace(b"123", b"124")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(tampered, header, secret, tolerance=300)
    with pytest.raises(VerificationFailed, match="bad signature"):
        ours.verify(request({"Stripe-Signature": header}, tampered, time.time()))


# --- Slack ----------------------------------------------------------------------------


def test_slack_sdk_signature_verifies() -> None:
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(NOW), body=BODY)
    assert signature is not None
    headers = {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(NOW)}
    verifier = build_verifier("slack", {"secrets": [secret]})
    assert verifier.verify(request(headers)) == Verified(None)


def test_slack_sdk_accepts_what_we_accept() -> None:
    secret = "slack-signing-secret"
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=BODY)
    assert signature is not None
    headers = {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": timestamp}
    assert build_verifier("slack", {"secrets": [secret]}).verify(request(headers, now=time.time()))
    assert SignatureVerifier(secret).is_valid_request(BODY, headers)


# --- Svix and Standard Webhooks -------------------------------------------------------


def test_svix_library_signature_verifies() -> None:
    secret = standard.generate_secret()
    signature = SvixWebhook(secret).sign(
        "msg_svix", datetime.fromtimestamp(NOW, UTC), BODY.decode()
    )
    headers = {"svix-id": "msg_svix", "svix-timestamp": str(NOW), "svix-signature": signature}
    verifier = build_verifier("svix", {"secrets": [standard.generate_secret(), secret]})
    assert verifier.verify(request(headers)) == Verified("msg_svix")


def test_standardwebhooks_library_signature_verifies() -> None:
    secret = standard.generate_secret()
    signature = standardwebhooks.Webhook(secret).sign(
        "msg_std", datetime.fromtimestamp(NOW, UTC), BODY.decode()
    )
    headers = {
        "webhook-id": "msg_std",
        "webhook-timestamp": str(NOW),
        "webhook-signature": signature,
    }
    verifier = build_verifier("standard-webhooks", {"secrets": [secret]})
    assert verifier.verify(request(headers)) == Verified("msg_std")


def test_reference_libraries_accept_our_signer_output_and_so_do_we() -> None:
    secrets = [standard.generate_secret(), standard.generate_secret()]
    now = int(time.time())
    header = standard.signature_header(
        [standard.secret_key(s) for s in secrets], "msg_ours", now, BODY
    )
    headers = {"webhook-id": "msg_ours", "webhook-timestamp": str(now), "webhook-signature": header}
    for secret in secrets:
        standardwebhooks.Webhook(secret).verify(BODY, headers, json_parse=False)
        SvixWebhook(secret).verify(BODY, headers)
        assert build_verifier("svix", {"secrets": [secret]}).verify(request(headers, now=now))


@pytest.mark.parametrize("signature", ["v1,a", "no-comma"])
def test_standardwebhooks_library_leaks_bare_errors_where_we_do_not(signature: str) -> None:
    # The pitfall the guide records: the reference library raises binascii.Error /
    # ValueError on malformed input. Ours answers with VerificationFailed.
    secret = standard.generate_secret()
    now = int(time.time())
    headers = {"webhook-id": "m", "webhook-timestamp": str(now), "webhook-signature": signature}
    with pytest.raises(ValueError):  # binascii.Error is a ValueError
        standardwebhooks.Webhook(secret).verify(BODY, headers, json_parse=False)
    verifier = build_verifier("standard-webhooks", {"secrets": [secret]})
    with pytest.raises(VerificationFailed, match="malformed header"):
        verifier.verify(request(headers, now=now))


def test_ed25519_v1a_signed_with_cryptography_verifies() -> None:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = Ed25519PrivateKey.generate()
    raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    public = "whpk_" + base64.b64encode(raw_public).decode()
    signature = private.sign(b"msg_ed.%d.%s" % (NOW, BODY))
    header = "v1a," + base64.b64encode(signature).decode()
    headers = {"webhook-id": "msg_ed", "webhook-timestamp": str(NOW), "webhook-signature": header}
    verifier = build_verifier("standard-webhooks", {"secrets": [public]})
    assert verifier.verify(request(headers)) == Verified("msg_ed")
    with pytest.raises(VerificationFailed, match="bad signature"):
        verifier.verify(request(headers, BODY.replace(b"4200", b"4201")))


# --- Twilio ---------------------------------------------------------------------------

TWILIO_TOKEN = "twilio-auth-token"
PARAMS = {
    "AccountSid": "AC123",
    "Body": "Hello + goodbye & café",
    "From": "+14155550100",
    "To": "+14155550199",
    "MediaUrl0": "",
}
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in/src_1?x=1&y=%20z",
        "https://hooks.example.com:443/in/src_1",
        "http://hooks.example.com:8080/in/src_1",
    ],
)
@pytest.mark.parametrize("algorithm", [None, "HMAC_SHA256"])
def test_twilio_library_form_signature_verifies(url: str, algorithm: str | None) -> None:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, PARAMS, algorithm)
    headers = {"X-Twilio-Signature": signature, "Content-Type": FORM}
    if algorithm:
        headers["X-Twilio-Webhooks-Signature-Settings"] = f"key=k1,algorithm={algorithm}"
    body = urlencode(PARAMS).encode()
    verifier = build_verifier("twilio", {"secrets": ["old-token", TWILIO_TOKEN]})
    assert verifier.verify(request(headers, body, url=url)) == Verified(None)
    assert RequestValidator(TWILIO_TOKEN).validate(url, PARAMS, signature, algorithm)


def test_twilio_library_json_signature_verifies() -> None:
    validator = RequestValidator(TWILIO_TOKEN)
    body = '{"event":"delivered","sid":"SM1"}'
    url = "https://hooks.example.com/in/src_1?bodySHA256=" + validator.compute_hash(body)
    signature = validator.compute_signature(url, {})
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/json"}
    verifier = build_verifier("twilio", {"secrets": [TWILIO_TOKEN]})
    assert verifier.verify(request(headers, body.encode(), url=url))
    assert validator.validate(url, body, signature)
    with pytest.raises(VerificationFailed, match="bad signature"):
        verifier.verify(request(headers, body.encode() + b" ", url=url))
