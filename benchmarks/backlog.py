"""Drain rate with a huge backlog compared with a small one, and the worker's peak memory.

Backlogs are seeded with SQL (see seed.py) rather than ingested over HTTP; the
applications and endpoints are still created through the API.
"""

from __future__ import annotations

from typing import Any

from benchmarks.backends import SQLITE, Backend
from benchmarks.common import Context, Drain, Result, timed_drain
from benchmarks.seed import seed_backlog
from benchmarks.services import create_fixture


def seeded_drain(
    ctx: Context, backend: Backend, name: str, pending: int, window: int
) -> tuple[Drain, float]:
    """Seed `pending` deliveries, start a worker, time the first `window` of them."""
    with backend.deploy(ctx, name) as tidings:
        api = tidings.start(ctx.procs, "api")
        create_fixture(tidings, ctx.receiver, 1)
        ctx.procs.stop(api)
        seed_s = seed_backlog(tidings.database_url, pending)
        profile = f"{backend.metric_prefix}backlog-{name}"
        start = lambda: [tidings.start(ctx.procs, "worker", ready=False)]  # noqa: E731
        drain = timed_drain(ctx, window, start, profile)
    return drain, seed_s


def backlog(ctx: Context, backend: Backend = SQLITE) -> Result:
    s = ctx.settings
    small, small_seed = seeded_drain(ctx, backend, "small", s.backlog_small, s.backlog_small)
    large, large_seed = seeded_drain(ctx, backend, "large", s.backlog_large, s.backlog_window)
    ratio = large.rate / small.rate if large.rate and small.rate else None
    details: dict[str, Any] = {
        "seeded_with_sql": True,
        "small": {"pending": s.backlog_small, "seed_s": round(small_seed, 2), **small.details()},
        "large": {"pending": s.backlog_large, "seed_s": round(large_seed, 2), **large.details()},
    }
    metrics = {"backlog_1m_drain_ratio": ratio, "backlog_1m_rss_mb": large.peak_rss_mb[0]}
    return Result(backend.metrics(metrics), details)
