"""Standard Webhooks v1 signatures (HMAC-SHA256), as Svix and the spec define them.

The key is the base64-decoded part of a `whsec_` secret, the signed content is
`{id}.{timestamp}.{body}` over the exact body bytes, and the header value is
`v1,<base64 digest>`, space-separated when several secrets are active.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets as _random
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
# 24 random bytes, as Svix generates; the spec accepts 24 to 64.
_SECRET_BYTES = 24
_MIN_KEY_BYTES = 24
_MAX_KEY_BYTES = 64


class InvalidSecret(ValueError):
    pass


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(_SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """Decode a secret to its HMAC key, rejecting anything that is not valid base64."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("secret must be base64, optionally prefixed with whsec_") from None
    if not _MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise InvalidSecret(
            f"secret must decode to {_MIN_KEY_BYTES}-{_MAX_KEY_BYTES} bytes, got {len(key)}"
        )
    return key


def normalize_secret(secret: str) -> str:
    secret_key(secret)
    return secret if secret.startswith(SECRET_PREFIX) else SECRET_PREFIX + secret


def sign_with_key(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    digest = hmac.digest(key, signed, "sha256")  # the one-shot C path
    return "v1," + base64.b64encode(digest).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    return sign_with_key(secret_key(secret), msg_id, timestamp, body)


def signature_header(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,` signature per active key."""
    return " ".join(sign_with_key(key, msg_id, timestamp, body) for key in keys)


def verify(secret: str, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """True when any `v1,` signature in `header` matches, compared in constant time."""
    expected = sign(secret, msg_id, timestamp, body).encode()
    found = False
    for candidate in header.split():
        # Keep comparing after a match so timing does not reveal which one matched.
        found |= hmac.compare_digest(candidate.encode(), expected)
    return found
