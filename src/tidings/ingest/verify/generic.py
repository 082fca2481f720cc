"""The "generic-webhook" source: accepts every request, verifying nothing.

For senders that sign nothing, or for development. The delivery id is taken from the
common idempotency headers when the sender sets one, so retries still deduplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import COMMON_ID_HEADERS, check_keys
from tidings.ingest.verify.base import InboundRequest, Verified


class UnverifiedVerifier:
    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> UnverifiedVerifier:
        check_keys(config, set(), "generic-webhook")
        return cls()

    def verify(self, request: InboundRequest) -> Verified:
        return Verified(delivery_id=c.first_header(request.headers, COMMON_ID_HEADERS))
