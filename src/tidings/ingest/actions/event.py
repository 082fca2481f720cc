"""What an action is given: one verified inbound webhook, as it arrived.

Python actions receive an `InboundWebhook`; command actions get the same facts as
arguments, environment variables and stdin (see `templates`).
"""

from __future__ import annotations

import functools
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class InboundWebhook:
    """A verified webhook a source received and kept.

    `id` (`msg_…`) is stable across retries of the same action, so it is the key to
    make an action idempotent with. `attempt` counts from 1.
    """

    id: str
    source_id: str
    source_uid: str | None
    source_type: str
    body: bytes
    # Lower-cased names; credentials (Authorization and the like) are never kept.
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""
    delivery_id: str | None = None
    received_at: int = 0
    attempt: int = 1

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        parsed, error = self._parsed
        if error is not None:
            raise ValueError(f"the body is not JSON: {error}")
        return parsed

    @functools.cached_property
    def _parsed(self) -> tuple[Any, str | None]:
        # Several templates of one run read the same body: parse it once.
        try:
            return orjson.loads(self.body), None
        except orjson.JSONDecodeError as exc:
            return None, str(exc)

    @functools.cached_property
    def query_params(self) -> dict[str, str]:
        """The ingest URL's query parameters (the last value of each name)."""
        return dict(urllib.parse.parse_qsl(self.query, keep_blank_values=True))

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)
