"""GitLab: no signature, only the shared secret token echoed in `X-Gitlab-Token`.

The token is compared in constant time. For dedup, `Idempotency-Key` (GitLab 17.4+)
is preferred: it is documented as unchanged across retries. `X-Gitlab-Event-UUID` is
the fallback for older servers; note GitLab reuses it for webhooks triggered by
other webhooks (its recursion detection), so it identifies an event chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import check_keys, check_secrets, secrets_of
from tidings.ingest.verify.base import InboundRequest, Verified

TOKEN_HEADER = "X-Gitlab-Token"
ID_HEADERS = ("Idempotency-Key", "X-Gitlab-Event-UUID")


class GitLabVerifier:
    # Nothing signed says when it was sent: a captured request replayed under a new
    # delivery id is a duplicate by its body (receive.py).
    dedup_on_body = True

    def __init__(self, secrets: Sequence[str]) -> None:
        self._tokens = tuple(c.encoded(s) for s in check_secrets(secrets, "gitlab"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GitLabVerifier:
        check_keys(config, {"secrets"}, "gitlab")
        return cls(secrets_of(config, "gitlab"))

    def verify(self, request: InboundRequest) -> Verified:
        token = c.require_header(request.headers, TOKEN_HEADER)
        c.require_match(self._tokens, [c.encoded(token)], TOKEN_HEADER)
        return Verified(delivery_id=c.first_header(request.headers, ID_HEADERS))
