"""A static key in a header of the operator's choosing, e.g. `X-API-Key: <key>` or
`Authorization: Bearer <key>` (header "Authorization", prefix "Bearer ").

The weakest scheme here: the key travels with every request and covers no body.
Use it only for senders that offer nothing better, and only over HTTPS.
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
    secrets_of,
    text_option,
)
from tidings.ingest.verify.base import InboundRequest, Verified

DEFAULT_HEADER = "X-API-Key"


class ApiKeyVerifier:
    # Nothing signed says when it was sent: a captured request replayed under a new
    # delivery id is a duplicate by its body (receive.py).
    dedup_on_body = True

    def __init__(
        self,
        secrets: Sequence[str],
        header: str = DEFAULT_HEADER,
        prefix: str = "",
        id_header: str | None = None,
    ) -> None:
        self._keys = tuple(c.encoded(s) for s in check_secrets(secrets, "api-key"))
        self._header = header_name(header, "header", "api-key")
        # The key itself travels in it: never kept, shown or handed on (receive.py).
        self.credential_headers = frozenset({self._header.lower()})
        self._prefix = prefix
        self._id_headers = id_headers(id_header, "api-key")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ApiKeyVerifier:
        check_keys(config, {"secrets", "header", "prefix", "id_header"}, "api-key")
        return cls(
            secrets_of(config, "api-key"),
            header=text_option(config, "header", "api-key", DEFAULT_HEADER) or DEFAULT_HEADER,
            prefix=text_option(config, "prefix", "api-key", "") or "",
            id_header=text_option(config, "id_header", "api-key"),
        )

    def verify(self, request: InboundRequest) -> Verified:
        value = c.require_header(request.headers, self._header)
        key = c.strip_prefix(value, self._prefix, self._header).strip()
        c.require_match(self._keys, [c.encoded(key)], self._header)
        return Verified(delivery_id=c.first_header(request.headers, self._id_headers))
