"""Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">` with
`X-Slack-Request-Timestamp`, keyed with the app's signing secret.

Slack's `url_verification` request is signed like any other, and is only answered
once the signature has matched: an unsigned one gets a failure, not the echo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidings.ingest.verify import _common as c
from tidings.ingest.verify._config import check_keys, check_secrets, secrets_of
from tidings.ingest.verify.base import InboundRequest, Verified

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"


class SlackVerifier:
    def __init__(self, secrets: Sequence[str]) -> None:
        self._keys = tuple(s.encode() for s in check_secrets(secrets, "slack"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SlackVerifier:
        check_keys(config, {"secrets"}, "slack")
        return cls(secrets_of(config, "slack"))

    def verify(self, request: InboundRequest) -> Verified:
        raw_ts = c.require_header(request.headers, TIMESTAMP_HEADER)
        value = c.require_header(request.headers, SIGNATURE_HEADER)
        timestamp = c.parse_timestamp(raw_ts, TIMESTAMP_HEADER)
        digest = c.decode_hex(c.strip_prefix(value, "v0=", SIGNATURE_HEADER), SIGNATURE_HEADER)
        signed = b"v0:" + raw_ts.encode() + b":" + request.body
        c.require_match((c.mac(key, signed) for key in self._keys), [digest], SIGNATURE_HEADER)
        c.check_fresh(timestamp, request.received_at, TIMESTAMP_HEADER)
        return _result(request.body)


def _result(body: bytes) -> Verified:
    parsed = c.json_object(body) or {}
    challenge = parsed.get("challenge")
    if parsed.get("type") == "url_verification" and isinstance(challenge, str):
        # Slack accepts the bare challenge as text/plain.
        return Verified(None, (200, challenge.encode(), "text/plain; charset=utf-8"))
    # Events API bodies carry event_id (Ev…), unchanged when Slack retries with
    # X-Slack-Retry-Num. Slash commands and interactions are form bodies with no id.
    event_id = parsed.get("event_id")
    return Verified(event_id if isinstance(event_id, str) and event_id else None)
