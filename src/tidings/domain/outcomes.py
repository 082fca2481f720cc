"""What an HTTP status means for a delivery."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# These ask the sender to back off; Retry-After is honoured for them.
SLOW_DOWN_STATUSES = frozenset({429, 502, 504})
GONE_STATUS = 410


class Verdict(Enum):
    DELIVERED = "delivered"
    FAILED = "failed"
    SLOW_DOWN = "slow_down"
    # 410: the receiver says the endpoint no longer exists; stop sending at once.
    GONE = "gone"


def classify(status_code: int) -> Verdict:
    """Any 2xx is success; 3xx is a failure (redirects are never followed); 0 means
    no HTTP response at all (refused, timed out, blocked)."""
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code == GONE_STATUS:
        return Verdict.GONE
    if status_code in SLOW_DOWN_STATUSES:
        return Verdict.SLOW_DOWN
    return Verdict.FAILED


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to, whoever performed it (an HTTP request, a command, a
    Python call): `status_code` is 0 when there was no HTTP answer at all."""

    succeeded: bool
    status_code: int
    response: str
    duration_ms: int
    error: str | None = None
    retry_after: float | None = None
    # What else the record should say: a body kept raw, a request sent twice.
    note: str | None = None
