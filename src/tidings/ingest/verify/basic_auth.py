"""HTTP Basic authentication: `Authorization: Basic base64(user:password)`.

Secrets are "user:password" strings, several while a password rotates. The whole
decoded credential is compared in constant time against each, so neither the user
name nor the password leaks through timing. A sender that first tries without
credentials (Twilio does) needs the HTTP layer to answer that failure with 401 and
`WWW-Authenticate: Basic`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import (
    check_keys,
    check_secrets,
    id_headers,
    secrets_of,
    text_option,
)
from tidings.ingest.verify.base import InboundRequest, VerificationFailed, Verified

HEADER = "Authorization"


class BasicAuthVerifier:
    # Nothing signed says when it was sent: a captured request replayed under a new
    # delivery id is a duplicate by its body (receive.py).
    dedup_on_body = True

    def __init__(self, secrets: Sequence[str], id_header: str | None = None) -> None:
        secrets = check_secrets(secrets, "basic-auth")
        if any(":" not in s for s in secrets):
            raise ValueError("basic-auth: every secret must be 'user:password'")
        self._credentials = tuple(c.encoded(s) for s in secrets)
        self._id_headers = id_headers(id_header, "basic-auth")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BasicAuthVerifier:
        check_keys(config, {"secrets", "id_header"}, "basic-auth")
        id_header = text_option(config, "id_header", "basic-auth")
        return cls(secrets_of(config, "basic-auth"), id_header)

    def verify(self, request: InboundRequest) -> Verified:
        scheme, _, token = c.require_header(request.headers, HEADER).partition(" ")
        if scheme.lower() != "basic":
            raise VerificationFailed("malformed header", f"{HEADER} is not Basic")
        credential = c.decode_base64(token.strip(), HEADER)
        c.require_match(self._credentials, [credential], HEADER)
        return Verified(delivery_id=c.first_header(request.headers, self._id_headers))
