"""What operators learn of each recorded batch of attempts: one log line per attempt
(as many as `TIDINGS_LOG_ATTEMPTS` asks for), the attempt metrics, and the
endpoints the batch disabled.

Reported once recorded, so a line never tells of an outcome the database lost.
Never a payload, a response body or a secret: ids, numbers and our own wording.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from tidings.domain.models import AttemptResult, RecordOutcome
from tidings.telemetry import metrics
from tidings.telemetry.logs import HotLogger
from tidings.telemetry.tally import TALLY

log = HotLogger("tidings.delivery")

ALL, FAILURES, NONE = "all", "failures", "none"


class AttemptReporter:
    def __init__(self, log_attempts: str = ALL) -> None:
        if log_attempts not in (ALL, FAILURES, NONE):
            raise ValueError(f"log_attempts must be all, failures or none, not {log_attempts!r}")
        self._which = log_attempts

    def recorded(self, batch: Sequence[AttemptResult], outcome: RecordOutcome) -> None:
        by_verdict = Counter(result.verdict.value for result in batch)
        for verdict, count in by_verdict.items():
            TALLY.count(metrics.ATTEMPTS, (verdict,), count)
        for result in batch:
            TALLY.observe(metrics.ATTEMPT_DURATION, result.duration_ms / 1000)
        for event in outcome.disabled:
            TALLY.count(metrics.ENDPOINTS_DISABLED)
            log.warning("endpoint disabled", endpoint_id=event.endpoint_id, reason=event.reason)
        if self._which != NONE:
            self._log(batch)

    def _log(self, batch: Sequence[AttemptResult]) -> None:
        failures_only = self._which == FAILURES
        for result in batch:
            if result.succeeded and failures_only:
                continue
            _log_attempt(result)


def _log_attempt(result: AttemptResult) -> None:
    delivery = result.delivery
    fields = {
        "msg_id": delivery.msg_id,
        "endpoint_id": delivery.endpoint_id,
        "app_id": delivery.app_id,
        "attempt": delivery.attempts_made + 1,
        "status": result.status_code,
        "outcome": result.verdict.value,
        "duration_ms": result.duration_ms,
    }
    if result.succeeded:
        log.info("attempt", **fields)
        return
    fields["error"] = result.error
    if result.retry_at is None:
        log.warning("attempt, no retry left", **fields, next_retry=None)
    else:
        log.info("attempt", **fields, next_retry=_iso(result.retry_at))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
