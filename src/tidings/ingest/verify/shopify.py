"""Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, keyed with the
app's client secret. Like GitHub there is no signed timestamp; `X-Shopify-Webhook-Id`
is the same on every retry of a delivery, so it is the dedup key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import check_keys, check_secrets, secrets_of
from tidings.ingest.verify.base import InboundRequest, Verified

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
DELIVERY_HEADER = "X-Shopify-Webhook-Id"


class ShopifyVerifier:
    # Nothing signed says when it was sent: a captured request replayed under a new
    # delivery id is a duplicate by its body (receive.py).
    dedup_on_body = True

    def __init__(self, secrets: Sequence[str]) -> None:
        self._keys = tuple(s.encode() for s in check_secrets(secrets, "shopify"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ShopifyVerifier:
        check_keys(config, {"secrets"}, "shopify")
        return cls(secrets_of(config, "shopify"))

    def verify(self, request: InboundRequest) -> Verified:
        value = c.require_header(request.headers, SIGNATURE_HEADER)
        digest = c.decode_base64(value, SIGNATURE_HEADER)
        expected = (c.mac(key, request.body) for key in self._keys)
        c.require_match(expected, [digest], SIGNATURE_HEADER)
        return Verified(delivery_id=c.first_header(request.headers, [DELIVERY_HEADER]))
