"""Zoom: `x-zm-signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">` with
`x-zm-request-timestamp` (Unix seconds), keyed with the app's secret token.

Zoom validates an endpoint with an `endpoint.url_validation` event whose answer is
`{"plainToken": p, "encryptedToken": hex HMAC-SHA256(secret, p)}`. That answer is an
HMAC oracle: answered for an unsigned request, it would let anyone obtain the MAC of
a chosen "v0:{ts}:{body}" string, that is a valid signature for any body. So the
challenge is answered only after its own signature matched, and with the secret that
matched (which also settles which secret to use while several are configured).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import check_keys, check_secrets, secrets_of
from tidings.ingest.verify.base import InboundRequest, VerificationFailed, Verified

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"


class ZoomVerifier:
    def __init__(self, secrets: Sequence[str]) -> None:
        self._keys = tuple(s.encode() for s in check_secrets(secrets, "zoom"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ZoomVerifier:
        check_keys(config, {"secrets"}, "zoom")
        return cls(secrets_of(config, "zoom"))

    def verify(self, request: InboundRequest) -> Verified:
        raw_ts = c.require_header(request.headers, TIMESTAMP_HEADER)
        value = c.require_header(request.headers, SIGNATURE_HEADER)
        timestamp = c.parse_timestamp(raw_ts, TIMESTAMP_HEADER)
        digest = c.decode_hex(c.strip_prefix(value, "v0=", SIGNATURE_HEADER), SIGNATURE_HEADER)
        key = self._matching_key(b"v0:" + raw_ts.encode() + b":" + request.body, digest)
        c.check_fresh(timestamp, request.received_at, TIMESTAMP_HEADER)
        return Verified(delivery_id=None, handshake=_handshake(request.body, key))

    def _matching_key(self, signed: bytes, digest: bytes) -> bytes:
        """The secret that produced `digest`, checking every secret before answering."""
        matched: bytes | None = None
        for key in self._keys:
            if c.any_equal([c.mac(key, signed)], [digest]) and matched is None:
                matched = key
        if matched is None:
            raise VerificationFailed("bad signature", f"{SIGNATURE_HEADER} does not match")
        return matched


def _handshake(body: bytes, key: bytes) -> tuple[int, bytes, str] | None:
    parsed = c.json_object(body) or {}
    payload = parsed.get("payload")
    if parsed.get("event") != "endpoint.url_validation" or not isinstance(payload, dict):
        return None
    plain = payload.get("plainToken")
    if not isinstance(plain, str):
        return None
    encrypted = c.mac(key, plain.encode()).hex()
    answer = json.dumps({"plainToken": plain, "encryptedToken": encrypted}).encode()
    return (200, answer, "application/json")
