"""The verifier registry, config validation, and the shared request types."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import tidings.ingest.verify as verify
from tidings.ingest.verify import (
    SOURCE_TYPES,
    Headers,
    InboundRequest,
    Verifier,
    build_verifier,
)

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_public_names_are_pinned() -> None:
    assert verify.__all__ == [
        "SOURCE_TYPES",
        "ApiKeyVerifier",
        "BasicAuthVerifier",
        "GitHubVerifier",
        "GitLabVerifier",
        "Headers",
        "HmacVerifier",
        "InboundRequest",
        "Reason",
        "ShopifyVerifier",
        "SlackVerifier",
        "StandardWebhooksVerifier",
        "StripeVerifier",
        "TwilioVerifier",
        "UnverifiedVerifier",
        "VerificationFailed",
        "Verified",
        "Verifier",
        "ZoomVerifier",
        "build_verifier",
    ]


def test_source_types_are_pinned() -> None:
    assert SOURCE_TYPES == (
        "generic-webhook",
        "github",
        "stripe",
        "shopify",
        "slack",
        "svix",
        "standard-webhooks",
        "gitlab",
        "twilio",
        "hmac",
        "basic-auth",
        "api-key",
        "zoom",
    )


MINIMAL: dict[str, dict[str, Any]] = {
    "generic-webhook": {},
    "github": {"secrets": ["s"]},
    "stripe": {"secrets": ["whsec_s"]},
    "shopify": {"secrets": ["s"]},
    "slack": {"secrets": ["s"]},
    "svix": {"secrets": [SW_SECRET]},
    "standard-webhooks": {"secrets": [SW_SECRET]},
    "gitlab": {"secrets": ["s"]},
    "twilio": {"secrets": ["s"]},
    "hmac": {"secrets": ["s"], "header": "X-Sig"},
    "basic-auth": {"secrets": ["u:p"]},
    "api-key": {"secrets": ["s"]},
    "zoom": {"secrets": ["s"]},
}


@pytest.mark.parametrize("source_type", SOURCE_TYPES)
def test_every_type_builds_a_verifier(source_type: str) -> None:
    assert isinstance(build_verifier(source_type, MINIMAL[source_type]), Verifier)


def test_unknown_type_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="unknown source type 'paypal'") as caught:
        build_verifier("paypal", {})
    for name in SOURCE_TYPES:
        assert name in str(caught.value)


@pytest.mark.parametrize("source_type", [t for t in SOURCE_TYPES if t != "generic-webhook"])
@pytest.mark.parametrize(
    "secrets",
    [None, "a-string-not-a-list", [], [""], ["   "], [1], ["ok", None]],
)
def test_secrets_must_be_a_non_empty_list_of_strings(source_type: str, secrets: Any) -> None:
    config = {**MINIMAL[source_type], "secrets": secrets}
    if secrets is None:
        del config["secrets"]
    with pytest.raises(ValueError, match=source_type):
        build_verifier(source_type, config)


@pytest.mark.parametrize("source_type", SOURCE_TYPES)
def test_unknown_config_keys_are_rejected(source_type: str) -> None:
    with pytest.raises(ValueError, match="unknown config keys \\['secret'\\]"):
        build_verifier(source_type, {**MINIMAL[source_type], "secret": "typo"})


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match="must be an object"):
        build_verifier("github", ["s"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"secrets": ["s"]}, "'header' is required"),
        ({"secrets": ["s"], "header": ""}, "'header' is required"),
        ({"secrets": ["s"], "header": "X Sig"}, "not a valid header name"),
        ({"secrets": ["s"], "header": "X-Sig", "algorithm": "md5"}, "'algorithm' must be one of"),
        ({"secrets": ["s"], "header": "X-Sig", "encoding": "hexx"}, "'encoding' must be one of"),
        ({"secrets": ["s"], "header": "X-Sig", "prefix": 3}, "'prefix' must be a string"),
        ({"secrets": ["s"], "header": "X-Sig", "id_header": "a:b"}, "not a valid header name"),
    ],
)
def test_hmac_config_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_verifier("hmac", config)


@pytest.mark.parametrize(
    ("source_type", "secret", "message"),
    [
        ("svix", "whsec_not base64!", "must be base64"),
        ("svix", "whsec_QUJD", "24-64 bytes"),
        ("standard-webhooks", "whpk_QUJD", "32 bytes"),
        ("standard-webhooks", "whpk_!!", "must be base64"),
    ],
)
def test_standard_webhooks_key_errors(source_type: str, secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_verifier(source_type, {"secrets": [secret]})


def test_basic_auth_and_api_key_config_errors() -> None:
    with pytest.raises(ValueError, match="user:password"):
        build_verifier("basic-auth", {"secrets": ["no-colon"]})
    with pytest.raises(ValueError, match="not a valid header name"):
        build_verifier("api-key", {"secrets": ["k"], "header": "Bad Header"})


def test_headers_are_case_insensitive_and_hide_values() -> None:
    headers = Headers({"X-Hub-Signature-256": "sha256=abc", "Content-Type": "text/plain"})
    assert headers["x-hub-signature-256"] == "sha256=abc"
    assert headers.get("CONTENT-TYPE") == "text/plain"
    assert "x-HUB-signature-256" in headers
    assert 3 not in headers
    assert sorted(headers) == ["Content-Type", "X-Hub-Signature-256"]
    assert len(headers) == 2
    assert "abc" not in repr(headers)


def test_repeated_header_pairs_are_joined_so_they_fail_closed() -> None:
    headers = Headers([("X-Sig", "a"), ("x-sig", "b"), ("Other", "c")])
    assert headers["X-SIG"] == "a, b"
    assert len(headers) == 2


def test_request_wraps_plain_mappings_in_headers() -> None:
    req = InboundRequest("POST", "https://h/", {"A": "1"}, b"", 0.0)
    assert isinstance(req.headers, Headers)
    assert req.headers["a"] == "1"
    same = Headers({"A": "1"})
    assert InboundRequest("POST", "https://h/", same, b"", 0.0).headers is same


def test_ed25519_keys_without_cryptography_fail_at_build_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    public = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="
    with pytest.raises(ValueError, match="need the 'cryptography' package"):
        build_verifier("standard-webhooks", {"secrets": [public]})
    # HMAC-only sources never need it.
    assert build_verifier("standard-webhooks", {"secrets": [SW_SECRET]})
