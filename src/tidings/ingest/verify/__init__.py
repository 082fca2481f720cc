"""Verification of inbound webhooks, one scheme per module, chosen by source type.

    verifier = build_verifier("stripe", {"secrets": ["whsec_…"]})
    result = verifier.verify(InboundRequest("POST", url, headers, body, time.time()))

`verify` returns `Verified` (the sender's delivery id, and a handshake answer when
the request was a challenge) or raises `VerificationFailed` with a short reason.
Config errors raise ValueError when the verifier is built, never per request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tidings.ingest.verify.api_key import ApiKeyVerifier
from tidings.ingest.verify.base import (
    Headers,
    InboundRequest,
    Reason,
    VerificationFailed,
    Verified,
    Verifier,
)
from tidings.ingest.verify.basic_auth import BasicAuthVerifier
from tidings.ingest.verify.generic import UnverifiedVerifier
from tidings.ingest.verify.github import GitHubVerifier
from tidings.ingest.verify.gitlab import GitLabVerifier
from tidings.ingest.verify.hmac_generic import HmacVerifier
from tidings.ingest.verify.shopify import ShopifyVerifier
from tidings.ingest.verify.slack import SlackVerifier
from tidings.ingest.verify.standard_webhooks import StandardWebhooksVerifier
from tidings.ingest.verify.stripe import StripeVerifier
from tidings.ingest.verify.twilio import TwilioVerifier
from tidings.ingest.verify.zoom import ZoomVerifier

__all__ = [
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

_Factory = Callable[[Mapping[str, Any]], Verifier]

_FACTORIES: dict[str, _Factory] = {
    "generic-webhook": UnverifiedVerifier.from_config,
    "github": GitHubVerifier.from_config,
    "stripe": StripeVerifier.from_config,
    "shopify": ShopifyVerifier.from_config,
    "slack": SlackVerifier.from_config,
    "svix": lambda config: StandardWebhooksVerifier.from_config(config, "svix"),
    "standard-webhooks": lambda config: StandardWebhooksVerifier.from_config(
        config, "standard-webhooks"
    ),
    "gitlab": GitLabVerifier.from_config,
    "twilio": TwilioVerifier.from_config,
    "hmac": HmacVerifier.from_config,
    "basic-auth": BasicAuthVerifier.from_config,
    "api-key": ApiKeyVerifier.from_config,
    "zoom": ZoomVerifier.from_config,
}

SOURCE_TYPES: tuple[str, ...] = tuple(_FACTORIES)


def build_verifier(source_type: str, config: Mapping[str, Any]) -> Verifier:
    """The verifier for a source of `source_type`, from its stored config.

    Raises ValueError for an unknown type or an invalid config, naming what is allowed.
    """
    factory = _FACTORIES.get(source_type)
    if factory is None:
        raise ValueError(f"unknown source type {source_type!r}; allowed: {', '.join(SOURCE_TYPES)}")
    return factory(config)
