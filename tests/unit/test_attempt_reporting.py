"""What a recorded batch reports: metrics by outcome and duration, disabled
endpoints, and one log line per attempt as TIDINGS_LOG_ATTEMPTS asks."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from tidings.delivery.reporting import AttemptReporter
from tidings.domain.models import AttemptResult, ClaimedDelivery, DisabledEndpoint, RecordOutcome
from tidings.domain.outcomes import Verdict
from tidings.domain.statuses import TriggerType
from tidings.telemetry import logs, metrics
from tidings.telemetry.tally import TALLY


def result(succeeded: bool, attempt: int = 1, retry_at: int | None = None) -> AttemptResult:
    delivery = ClaimedDelivery(
        delivery_key=1,
        claim_id=1,
        attempts_made=attempt - 1,
        trigger_type=TriggerType.SCHEDULED,
        msg_id="msg_1",
        msg_key=1,
        app_key=1,
        endpoint_id="ep_1",
        endpoint_key=1,
        url="https://example.com/hook",
        payload=b'{"card": "4242"}',
        secrets=["whsec_c2VjcmV0"],
        headers={"authorization": "Bearer customer"},
        app_id="app_1",
    )
    return AttemptResult(
        attempt_id="atmpt_1",
        delivery=delivery,
        succeeded=succeeded,
        status_code=200 if succeeded else 500,
        response="the receiver's body",
        duration_ms=42,
        error=None if succeeded else "HTTP 500",
        finished_at=1_700_000_000_000,
        retry_at=retry_at,
        verdict=Verdict.DELIVERED if succeeded else Verdict.FAILED,
    )


def counted(outcome: str) -> float:
    return metrics.ATTEMPTS.labels(outcome)._value.get()


def report(which: str, batch: list[AttemptResult], outcome: RecordOutcome) -> list[dict[str, Any]]:
    logs.reset()
    with capture_logs() as captured:
        AttemptReporter(which).recorded(batch, outcome)
    return captured


def test_metrics_count_each_outcome_and_duration() -> None:
    TALLY.flush()  # what earlier tests gathered, before the baseline is read
    delivered, failed = counted("delivered"), counted("failed")
    durations = metrics.ATTEMPT_DURATION._sum.get()
    disabled = metrics.ENDPOINTS_DISABLED._value.get()
    gone = DisabledEndpoint(app_key=1, endpoint_id="ep_1", reason="410 Gone")
    batch = [result(True), result(True), result(False, retry_at=1_700_000_005_000)]
    report("none", batch, RecordOutcome(disabled=[gone]))
    assert counted("delivered") - delivered == 2
    assert counted("failed") - failed == 1
    assert metrics.ATTEMPT_DURATION._sum.get() - durations == pytest.approx(0.126)
    assert metrics.ENDPOINTS_DISABLED._value.get() - disabled == 1


def test_every_attempt_gets_a_line_with_its_ids() -> None:
    batch = [result(True), result(False, 2, retry_at=1_700_000_005_000), result(False, 8)]
    captured = report("all", batch, RecordOutcome())
    assert [(line["event"], line["log_level"]) for line in captured] == [
        ("attempt", "info"),
        ("attempt", "info"),
        ("attempt, no retry left", "warning"),
    ]
    assert captured[0] == {
        "event": "attempt",
        "log_level": "info",
        "msg_id": "msg_1",
        "endpoint_id": "ep_1",
        "app_id": "app_1",
        "attempt": 1,
        "status": 200,
        "outcome": "delivered",
        "duration_ms": 42,
    }
    assert captured[1]["attempt"] == 2
    assert captured[1]["next_retry"] == "2023-11-14T22:13:25.000+00:00"
    assert captured[1]["error"] == "HTTP 500"
    assert captured[2]["next_retry"] is None
    text = repr(captured)
    for never in ("4242", "whsec_", "Bearer customer", "the receiver's body"):
        assert never not in text


def test_failures_only() -> None:
    captured = report("failures", [result(True), result(False, retry_at=1)], RecordOutcome())
    assert [line["status"] for line in captured] == [500]


def test_disabled_endpoints_are_logged_even_with_no_attempt_lines() -> None:
    gone = DisabledEndpoint(app_key=1, endpoint_id="ep_9", reason="410 Gone")
    captured = report("none", [result(True)], RecordOutcome(disabled=[gone]))
    assert captured == [
        {
            "event": "endpoint disabled",
            "log_level": "warning",
            "endpoint_id": "ep_9",
            "reason": "410 Gone",
        }
    ]


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="all, failures or none"):
        AttemptReporter("some")
