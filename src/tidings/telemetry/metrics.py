"""Prometheus metrics: the instruments each layer updates, and their exposition.

Several processes may answer one port (`serve --api-processes N`: N API processes
and a worker). Then every process keeps its values in files of one directory
(prometheus_client's multiprocess mode, chosen by `PROMETHEUS_MULTIPROC_DIR`, which
`shared.prepare` sets before this module is first imported) and a scrape of any of
them sums all. A process alone keeps them in memory, which costs half as much.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from tidings.domain.models import Backlog
from tidings.telemetry.shared import SHARED_DIRECTORY
from tidings.telemetry.tally import TALLY

# The text format every Prometheus (and every compatible agent) reads; our names
# need nothing newer.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Delivery attempts run from milliseconds to the request timeout (15 s by default).
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
# The API answers in milliseconds; seconds mean something is wrong.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

MESSAGES_CREATED = Counter(
    "tidings_messages_created",
    "Messages the API accepted (each 202 that stored a new message). Labelled with "
    "the application id only when TIDINGS_METRICS_APP_LABELS is on.",
    ["app"],
)
ATTEMPTS = Counter(
    "tidings_attempts",
    "Delivery attempts recorded, by outcome: delivered (2xx), failed, slow_down "
    "(429, 502, 504) or gone (410).",
    ["outcome"],
)
ATTEMPT_DURATION = Histogram(
    "tidings_attempt_duration_seconds",
    "How long delivery attempts took, from connecting to the end of the answer.",
    buckets=ATTEMPT_BUCKETS,
)
ENDPOINTS_DISABLED = Counter(
    "tidings_endpoints_disabled",
    "Endpoints disabled for failing (every attempt failed for TIDINGS_DISABLE_AFTER, "
    "or one answered 410).",
)
INBOUND_RECEIVED = Counter(
    "tidings_inbound_received",
    "Requests at sources' ingest URLs, by source type and verdict: accepted, "
    "duplicate, or the reason for refusing.",
    ["source_type", "verdict"],
)
ACTION_RUNS = Counter(
    "tidings_action_runs",
    "Actions performed for inbound events, by kind (forward, command, python) and "
    "outcome (succeeded, failed).",
    ["kind", "outcome"],
)
HTTP_REQUESTS = Counter(
    "tidings_http_requests",
    "Requests the API answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "tidings_http_request_duration_seconds",
    "How long the API took to answer, by method and route template.",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)


class BacklogGauges:
    """The queue's gauges, from the database's `Backlog` read at a scrape (never
    kept in a process, where another process's work would make them wrong)."""

    def __init__(self, backlog: Backlog, now: int) -> None:
        self._pending = backlog.pending
        due = backlog.earliest_due_at
        self._lateness = (0 if due is None else max(now - due, 0)) / 1000

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "tidings_deliveries_pending",
            "Deliveries waiting to be attempted, now or at their retry time (those of "
            "disabled endpoints, kept for recovery, not counted).",
            value=self._pending,
        )
        yield GaugeMetricFamily(
            "tidings_oldest_pending_age_seconds",
            "How long the most overdue delivery has waited since it fell due; near 0 "
            "while the workers keep up.",
            value=self._lateness,
        )


class _ThisProcess:
    """The instruments of this process, with its process_* and python_* figures."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def shared() -> bool:
    return bool(os.environ.get(SHARED_DIRECTORY))


def exposition(backlog: BacklogGauges | None = None) -> bytes:
    """Every metric in Prometheus' text format: of all processes sharing the
    directory, or of this one."""
    TALLY.flush()  # this process's latest, at least
    registry = CollectorRegistry(auto_describe=False)
    if shared():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    if backlog is not None:
        registry.register(backlog)
    return generate_latest(registry)
