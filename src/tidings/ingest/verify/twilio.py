"""Twilio: `X-Twilio-Signature: base64(HMAC(auth token, url + params))`.

The signed string is the full URL Twilio requested (query string included), then
for a form-encoded POST every body parameter sorted by name, each appended as
name + value with no delimiter (values of a repeated name sorted too, as Twilio's
own library does). A JSON body is instead bound by a `bodySHA256` query parameter,
the hex SHA-256 of the raw body, which is part of the signed URL.

The MAC is HMAC-SHA1 unless `X-Twilio-Webhooks-Signature-Settings` names
`algorithm=HMAC_SHA256`. Twilio is inconsistent about default ports in the signed URL,
so, like its library, both the URL with and without `:443`/`:80` are tried.

`request.url` must be the URL as Twilio saw it: behind a proxy, the public one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import check_keys, check_secrets, secrets_of
from tidings.ingest.verify.base import InboundRequest, VerificationFailed, Verified

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
# Twilio's retry-stable id for one webhook delivery.
DELIVERY_HEADER = "I-Twilio-Idempotency-Token"
_ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}
_FORM = "application/x-www-form-urlencoded"


class TwilioVerifier:
    # Nothing signed says when it was sent: a captured request replayed under a new
    # delivery id is a duplicate by its body (receive.py).
    dedup_on_body = True

    def __init__(self, secrets: Sequence[str]) -> None:
        self._keys = tuple(s.encode() for s in check_secrets(secrets, "twilio"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TwilioVerifier:
        check_keys(config, {"secrets"}, "twilio")
        return cls(secrets_of(config, "twilio"))

    def verify(self, request: InboundRequest) -> Verified:
        value = c.require_header(request.headers, SIGNATURE_HEADER)
        digest = c.decode_base64(value, SIGNATURE_HEADER)
        algorithm = _algorithm(request.headers.get(SETTINGS_HEADER, ""))
        suffix = _params_suffix(request)
        expected = (
            c.mac(key, c.encoded(url) + suffix, algorithm)
            for key in self._keys
            for url in _url_variants(request.url)
        )
        c.require_match(expected, [digest], SIGNATURE_HEADER)
        return Verified(delivery_id=c.first_header(request.headers, [DELIVERY_HEADER]))


def _algorithm(settings: str) -> str:
    """The hash named by the settings header; absent means the legacy HMAC-SHA1."""
    for part in settings.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            named = _ALGORITHMS.get(value.strip().upper())
            if named is None:
                raise VerificationFailed("malformed header", f"{SETTINGS_HEADER} algorithm")
            return named
    return "sha1"


def _params_suffix(request: InboundRequest) -> bytes:
    """What follows the URL in the signed string: sorted form parameters, or nothing."""
    body_hash = parse_qs(urlsplit(request.url).query).get("bodySHA256")
    if body_hash:
        actual = hashlib.sha256(request.body).hexdigest().encode()
        if not c.any_equal([actual], [c.encoded(body_hash[0].lower())]):
            raise VerificationFailed("bad signature", "bodySHA256 does not match the body")
        return b""
    if _media_type(request.headers.get("Content-Type", "")) == _FORM:
        return _sorted_params(request.body)
    if request.body:
        # A body that is neither form-encoded nor bound by bodySHA256 is covered by no
        # signature at all; accepting it would let anyone replace it under a valid URL.
        raise VerificationFailed("bad signature", "body is not covered by the signature")
    return b""


def _media_type(content_type: str) -> str:
    message = Message()
    message["content-type"] = content_type
    return message.get_content_type()


def _sorted_params(body: bytes) -> bytes:
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise VerificationFailed("bad signature", "form body is not UTF-8") from None
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    joined = "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    return c.encoded(joined)


def _url_variants(url: str) -> tuple[str, ...]:
    """The URL exactly as given, plus the same with the port removed, or with the
    scheme's default port added when it has none, as Twilio's library tries.

    Only the port is touched; the rest is kept byte for byte, since re-serialising a
    URL (dropping an empty "?", re-encoding) would change what was signed.
    """
    parts = urlsplit(url)
    start = url.find("://") + 3
    if start < 3 or not parts.netloc or url[start : start + len(parts.netloc)] != parts.netloc:
        return (url,)
    head, rest = url[:start], url[start + len(parts.netloc) :]
    try:
        port = parts.port
    except ValueError:
        return (url,)
    if port is None:
        default = 443 if parts.scheme == "https" else 80
        return (url, f"{head}{parts.netloc}:{default}{rest}")
    return (url, f"{head}{parts.netloc.rsplit(':', 1)[0]}{rest}")
