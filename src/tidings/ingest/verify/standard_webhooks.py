"""Standard Webhooks (and Svix, which it grew out of).

Headers `webhook-id`, `webhook-timestamp`, `webhook-signature`, or the same three
with the `svix-` prefix. The signed content is `{id}.{timestamp}.{body}` and the
signature header is a space-separated list of `version,base64` entries:

- `v1`: HMAC-SHA256 keyed with the base64-decoded part of a `whsec_` secret;
- `v1a`: Ed25519, checked against `whpk_` public keys (needs the `cryptography`
  package, loaded only when such a key is configured).

Entries with other versions are skipped, as the spec asks, so senders can add new
schemes without breaking receivers.
"""

from __future__ import annotations

import base64
import binascii
import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import check_keys, check_secrets, secrets_of
from tidings.ingest.verify.base import InboundRequest, VerificationFailed, Verified
from tidings.signing import standard

PUBLIC_KEY_PREFIX = "whpk_"
_ED25519_KEY_BYTES = 32
# Senders list one signature per active key, rarely more than two or three. A cap
# bounds the Ed25519 work (tens of µs each) one request can demand.
_MAX_SIGNATURES = 16
_FAMILIES = {"standard-webhooks": ("webhook", "svix"), "svix": ("svix", "webhook")}


class StandardWebhooksVerifier:
    """`source_type` only sets which header family is preferred when both arrive."""

    def __init__(self, secrets: Sequence[str], source_type: str = "standard-webhooks") -> None:
        if source_type not in _FAMILIES:
            raise ValueError(f"source_type must be one of {sorted(_FAMILIES)}")
        secrets = check_secrets(secrets, source_type)
        self._families = _FAMILIES[source_type]
        self._hmac_keys = tuple(_hmac_key(s, source_type) for s in secrets if not _is_public(s))
        self._public_keys = _public_keys([s for s in secrets if _is_public(s)], source_type)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], source_type: str = "standard-webhooks"
    ) -> StandardWebhooksVerifier:
        check_keys(config, {"secrets"}, source_type)
        return cls(secrets_of(config, source_type), source_type)

    def verify(self, request: InboundRequest) -> Verified:
        prefix = self._family(request)
        msg_id = c.require_header(request.headers, f"{prefix}-id")
        ts_header = f"{prefix}-timestamp"
        raw_ts = c.require_header(request.headers, ts_header)
        sig_header = f"{prefix}-signature"
        entries = _entries(c.require_header(request.headers, sig_header), sig_header)
        timestamp = c.parse_timestamp(raw_ts, ts_header)
        signed = b"%s.%s.%s" % (c.encoded(msg_id), raw_ts.encode(), request.body)
        if not self._matches(signed, entries):
            raise VerificationFailed("bad signature", f"{sig_header} does not match")
        c.check_fresh(timestamp, request.received_at, ts_header)
        return Verified(delivery_id=msg_id)

    def _family(self, request: InboundRequest) -> str:
        """One header family for all three values: never an id from one and a
        signature from the other. The preferred family wins when both are present."""
        for prefix in self._families:
            if f"{prefix}-signature" in request.headers:
                return prefix
        return self._families[0]

    def _matches(self, signed: bytes, entries: Mapping[str, list[bytes]]) -> bool:
        hmac_ok = c.any_equal((c.mac(key, signed) for key in self._hmac_keys), entries["v1"])
        ed_ok = any(
            _ed25519_valid(key, sig, signed) for key in self._public_keys for sig in entries["v1a"]
        )
        return hmac_ok | ed_ok


def _entries(value: str, header: str) -> dict[str, list[bytes]]:
    """The decoded v1 and v1a signatures listed in the header."""
    found: dict[str, list[bytes]] = {"v1": [], "v1a": []}
    entries = value.split()
    if len(entries) > _MAX_SIGNATURES:
        raise VerificationFailed("malformed header", f"{header} lists too many signatures")
    for entry in entries:
        version, sep, encoded_sig = entry.partition(",")
        if not sep:
            raise VerificationFailed("malformed header", f"{header} entry without a version")
        if version in found:
            found[version].append(c.decode_base64(encoded_sig, header))
    if not found["v1"] and not found["v1a"]:
        raise VerificationFailed("malformed header", f"{header} has no v1 or v1a signature")
    return found


def _is_public(secret: str) -> bool:
    return secret.startswith(PUBLIC_KEY_PREFIX)


def _hmac_key(secret: str, source_type: str) -> bytes:
    try:
        return standard.secret_key(secret)
    except standard.InvalidSecret as exc:
        raise ValueError(f"{source_type}: {exc}") from None


# --- Ed25519 (v1a) -------------------------------------------------------------------
# `cryptography` is optional: it is imported by name so that the package, and mypy,
# work without it; only a source configured with a whpk_ key needs it.


def _ed25519_module() -> ModuleType:
    try:
        return importlib.import_module("cryptography.hazmat.primitives.asymmetric.ed25519")
    except ImportError:
        raise ValueError("whpk_ (Ed25519) keys need the 'cryptography' package") from None


def _public_keys(secrets: Sequence[str], source_type: str) -> tuple[Any, ...]:
    raw_keys = [_decode_public_key(secret, source_type) for secret in secrets]
    if not raw_keys:
        return ()
    ed25519 = _ed25519_module()
    return tuple(ed25519.Ed25519PublicKey.from_public_bytes(raw) for raw in raw_keys)


def _decode_public_key(secret: str, source_type: str) -> bytes:
    try:
        raw = base64.b64decode(secret.removeprefix(PUBLIC_KEY_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{source_type}: whpk_ key must be base64") from None
    if len(raw) != _ED25519_KEY_BYTES:
        raise ValueError(f"{source_type}: whpk_ key must decode to 32 bytes, got {len(raw)}")
    return raw


def _ed25519_valid(key: Any, signature: bytes, signed: bytes) -> bool:
    # Public-key checks need no constant time: nothing secret is compared.
    invalid = importlib.import_module("cryptography.exceptions").InvalidSignature
    try:
        key.verify(signature, signed)
    except invalid:
        return False
    return True
