"""GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.

GitHub signs no timestamp, so replays can only be caught by deduplicating on
`X-GitHub-Delivery`, which stays the same when a delivery is redelivered.
The legacy SHA-1 `X-Hub-Signature` is deliberately not accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import check_keys, check_secrets, secrets_of
from tidings.ingest.verify.base import InboundRequest, Verified

SIGNATURE_HEADER = "X-Hub-Signature-256"
DELIVERY_HEADER = "X-GitHub-Delivery"


class GitHubVerifier:
    # Nothing signed says when it was sent: a captured request replayed under a new
    # delivery id is a duplicate by its body (receive.py).
    dedup_on_body = True

    def __init__(self, secrets: Sequence[str]) -> None:
        self._keys = tuple(s.encode() for s in check_secrets(secrets, "github"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GitHubVerifier:
        check_keys(config, {"secrets"}, "github")
        return cls(secrets_of(config, "github"))

    def verify(self, request: InboundRequest) -> Verified:
        value = c.require_header(request.headers, SIGNATURE_HEADER)
        digest = c.decode_hex(c.strip_prefix(value, "sha256=", SIGNATURE_HEADER), SIGNATURE_HEADER)
        expected = (c.mac(key, request.body) for key in self._keys)
        c.require_match(expected, [digest], SIGNATURE_HEADER)
        return Verified(delivery_id=c.first_header(request.headers, [DELIVERY_HEADER]))
