"""Small checks shared by the verifiers, each turning bad input into VerificationFailed.

Every parse of attacker-controlled text happens here, so that a malformed header can
only ever surface as `VerificationFailed("malformed header")`, never as a bare
ValueError, binascii.Error or UnicodeDecodeError escaping to the HTTP layer as a 500.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from tidings.ingest.verify.base import VerificationFailed

# Five minutes either way: the window Stripe, Slack and Standard Webhooks all use.
TOLERANCE_SECONDS = 300
# Ten digits covers Unix seconds until the year 2286; a few more tolerate oddities
# without letting a megabyte of digits reach int().
_MAX_TIMESTAMP_DIGITS = 15


def require_header(headers: Mapping[str, str], name: str) -> str:
    """The header's value; absent and empty are both "missing"."""
    value = headers.get(name, "").strip()
    if not value:
        raise VerificationFailed("missing header", name)
    return value


def first_header(headers: Mapping[str, str], names: Iterable[str]) -> str | None:
    """The first of `names` present with a non-empty value, for delivery ids."""
    for name in names:
        value = headers.get(name, "").strip()
        if value:
            return value
    return None


def parse_timestamp(value: str, header: str) -> int:
    """Unix seconds written as plain ASCII digits.

    int() alone would also take "+1", " 1", "1_000" and non-ASCII digits, none of which
    a sender signs; accepting them would let one signature match several headers.
    """
    if not (value.isascii() and value.isdigit() and len(value) <= _MAX_TIMESTAMP_DIGITS):
        raise VerificationFailed("malformed header", f"{header} is not Unix seconds")
    return int(value)


def check_fresh(timestamp: int, now: float, header: str) -> None:
    """Reject a signed timestamp more than the tolerance away from now, either way.

    Called after the signature matched, so "stale timestamp" always means a genuine
    request that is too old (a replay, or a queue backlog) or a skewed clock.
    """
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise VerificationFailed("stale timestamp", f"{header} outside ±{TOLERANCE_SECONDS}s")


def decode_hex(value: str, header: str) -> bytes:
    try:
        # unhexlify, unlike bytes.fromhex, rejects embedded whitespace.
        return binascii.unhexlify(value)
    except ValueError:  # binascii.Error is a ValueError; so is a non-ASCII str
        raise VerificationFailed("malformed header", f"{header} is not hex") from None


def decode_base64(value: str, header: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise VerificationFailed("malformed header", f"{header} is not base64") from None


def strip_prefix(value: str, prefix: str, header: str) -> str:
    if not value.startswith(prefix):
        raise VerificationFailed("malformed header", f"{header} must start with {prefix!r}")
    return value[len(prefix) :]


def mac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """HMAC digest; `algorithm` is a hashlib name, checked when the config was read."""
    return hmac.new(key, message, algorithm).digest()


def any_equal(expected: Iterable[bytes], received: Iterable[bytes]) -> bool:
    """True when any expected value equals any received one, in constant time per pair.

    Every pair is compared even after a match, so the time taken does not reveal which
    secret (during a rotation) or which listed signature matched.
    """
    received = list(received)
    found = False
    for want in expected:
        for got in received:
            found |= hmac.compare_digest(want, got)
    return found


def require_match(expected: Iterable[bytes], received: Iterable[bytes], header: str) -> None:
    if not any_equal(expected, received):
        raise VerificationFailed("bad signature", f"{header} does not match")


def encoded(value: str) -> bytes:
    """Header text as bytes for compare_digest, which refuses non-ASCII str.

    surrogatepass makes this total: no str, however odd, raises here.
    """
    return value.encode("utf-8", "surrogatepass")


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body parsed as a JSON object, or None if it is anything else.

    Used only after verification, to read ids and handshakes; the signature always
    covers the raw bytes, never this parse.
    """
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError
        return None
    return parsed if isinstance(parsed, dict) else None


def json_string(body: bytes, key: str) -> str | None:
    parsed = json_object(body)
    value = parsed.get(key) if parsed is not None else None
    return value if isinstance(value, str) and value else None
