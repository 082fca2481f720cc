"""A generic body HMAC for senders with no dedicated verifier: one header holding
`<prefix><digest>`, the digest being HMAC-<algorithm>(secret, body) in hex or base64.

Examples: GitHub-style `X-Signature: sha256=<hex>`; Shopify-style base64 with no prefix.
No timestamp is signed, so nothing here stops a replay of a captured request; pair it
with a delivery-id header and deduplication.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import (
    check_keys,
    check_secrets,
    header_name,
    id_headers,
    required_text,
    secrets_of,
    text_option,
)
from tidings.ingest.verify.base import InboundRequest, Verified

ALGORITHMS = ("sha1", "sha256", "sha512")
ENCODINGS = ("hex", "base64")


class HmacVerifier:
    # Nothing signed says when it was sent: a captured request replayed under a new
    # delivery id is a duplicate by its body (receive.py).
    dedup_on_body = True

    def __init__(
        self,
        secrets: Sequence[str],
        header: str,
        algorithm: str = "sha256",
        encoding: str = "hex",
        prefix: str = "",
        id_header: str | None = None,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"hmac: 'algorithm' must be one of {list(ALGORITHMS)}")
        if encoding not in ENCODINGS:
            raise ValueError(f"hmac: 'encoding' must be one of {list(ENCODINGS)}")
        self._keys = tuple(s.encode() for s in check_secrets(secrets, "hmac"))
        self._header = header_name(header, "header", "hmac")
        self._algorithm = algorithm
        self._decode = c.decode_hex if encoding == "hex" else c.decode_base64
        self._prefix = prefix
        self._id_headers = id_headers(id_header, "hmac")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HmacVerifier:
        allowed = {"secrets", "header", "algorithm", "encoding", "prefix", "id_header"}
        check_keys(config, allowed, "hmac")
        return cls(
            secrets_of(config, "hmac"),
            header=required_text(config, "header", "hmac"),
            algorithm=text_option(config, "algorithm", "hmac", "sha256", ALGORITHMS) or "",
            encoding=text_option(config, "encoding", "hmac", "hex", ENCODINGS) or "",
            prefix=text_option(config, "prefix", "hmac", "") or "",
            id_header=text_option(config, "id_header", "hmac"),
        )

    def verify(self, request: InboundRequest) -> Verified:
        value = c.require_header(request.headers, self._header)
        digest = self._decode(c.strip_prefix(value, self._prefix, self._header), self._header)
        expected = (c.mac(key, request.body, self._algorithm) for key in self._keys)
        c.require_match(expected, [digest], self._header)
        return Verified(delivery_id=c.first_header(request.headers, self._id_headers))
