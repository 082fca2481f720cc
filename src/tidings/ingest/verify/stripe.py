"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`.

The HMAC-SHA256 covers `{t}.{body}` and, unlike Standard Webhooks, is keyed with the
whole `whsec_…` string as UTF-8, not its base64-decoded bytes. Stripe lists one v1
signature per active secret while you roll a secret, so any listed v1 may match.
Other schemes (v0 is test-mode SHA-1 era) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import check_keys, check_secrets, secrets_of
from tidings.ingest.verify.base import InboundRequest, VerificationFailed, Verified

SIGNATURE_HEADER = "Stripe-Signature"


class StripeVerifier:
    def __init__(self, secrets: Sequence[str]) -> None:
        self._keys = tuple(s.encode() for s in check_secrets(secrets, "stripe"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StripeVerifier:
        check_keys(config, {"secrets"}, "stripe")
        return cls(secrets_of(config, "stripe"))

    def verify(self, request: InboundRequest) -> Verified:
        raw_ts, signatures = _parse(c.require_header(request.headers, SIGNATURE_HEADER))
        timestamp = c.parse_timestamp(raw_ts, SIGNATURE_HEADER + " t")
        signed = raw_ts.encode() + b"." + request.body
        expected = (c.mac(key, signed) for key in self._keys)
        c.require_match(expected, signatures, SIGNATURE_HEADER)
        c.check_fresh(timestamp, request.received_at, SIGNATURE_HEADER + " t")
        # The event id (evt_…) is stable across Stripe's retries of one event.
        return Verified(delivery_id=c.json_string(request.body, "id"))


def _parse(value: str) -> tuple[str, list[bytes]]:
    """Split the header into its one `t` and its decoded `v1` digests."""
    timestamps: list[str] = []
    signatures: list[bytes] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            raise VerificationFailed("malformed header", f"{SIGNATURE_HEADER} item without '='")
        if key == "t":
            timestamps.append(val)
        elif key == "v1":
            signatures.append(c.decode_hex(val, SIGNATURE_HEADER))
    if len(timestamps) != 1:
        raise VerificationFailed("malformed header", f"{SIGNATURE_HEADER} needs exactly one t=")
    if not signatures:
        raise VerificationFailed("malformed header", f"{SIGNATURE_HEADER} has no v1 signature")
    return timestamps[0], signatures
