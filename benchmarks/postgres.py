"""Tidings on PostgreSQL: the throughput, latency and backlog scenarios again, each
run on a database of its own, their metrics prefixed `pg_`, plus the drain by two
worker processes (`pg_drain_rps_2workers`), which PostgreSQL exists to allow.

When PostgreSQL is unavailable every metric is null and the reason is recorded.
"""

from __future__ import annotations

from typing import Any

from benchmarks import services
from benchmarks.backends import POSTGRES
from benchmarks.backlog import backlog
from benchmarks.common import Context, Result
from benchmarks.drains import drain_and_ingest, fanout_drain
from benchmarks.latency import e2e, storm

METRICS = (
    "pg_ingest_rps",
    "pg_drain_rps",
    "pg_drain_rps_2workers",
    "pg_fanout10_drain_rps",
    "pg_e2e_p50_ms",
    "pg_e2e_p99_ms",
    "pg_e2e_p999_ms",
    "pg_storm_healthy_p99_ms",
    "pg_backlog_1m_drain_ratio",
    "pg_backlog_1m_rss_mb",
)


def postgres(ctx: Context) -> Result:
    problem = unavailable()
    if problem:
        return Result(dict.fromkeys(METRICS), {"skipped": problem})
    parts = {
        "drain": lambda: drain_and_ingest(ctx, POSTGRES),
        "drain_2workers": lambda: drain_and_ingest(ctx, POSTGRES, ctx.settings.pg_workers),
        "fanout": lambda: fanout_drain(ctx, POSTGRES),
        "e2e": lambda: e2e(ctx, POSTGRES),
        "storm": lambda: storm(ctx, POSTGRES),
        "backlog": lambda: backlog(ctx, POSTGRES),
    }
    metrics: dict[str, float | None] = dict.fromkeys(METRICS)
    details: dict[str, Any] = {}
    series: dict[str, list[float]] = {}
    for name, run in parts.items():
        print(f"    postgresql: {name}", flush=True)
        try:
            result = run()
        except Exception as exc:  # one part failing keeps what the others measured
            details[name] = {"error": f"{type(exc).__name__}: {exc}"[-2000:]}
            print(f"    postgresql: {name} failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        for metric, value in result.metrics.items():
            if metrics.get(metric) is None:  # the first ingest's rate is the one reported
                metrics[metric] = value
        details[name] = result.details
        series.update({POSTGRES.metric_prefix + key: s for key, s in result.series.items()})
    return Result(metrics, details, series)


def unavailable() -> str | None:
    """Why PostgreSQL cannot be used here, or None."""
    probe = "tidings_bench_probe"
    try:
        services.create_database(probe)
    except (RuntimeError, OSError) as exc:
        return f"PostgreSQL at {services.POSTGRES_URL} unavailable: {exc}"
    services.drop_database(probe)
    return None
