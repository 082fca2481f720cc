"""Drain throughput of two worker processes on PostgreSQL.

Runs only when `tidings migrate` accepts a postgresql:// URL; until the backend
exists the metric is null and the reason is recorded, and it starts working by
itself once the backend lands.
"""

from __future__ import annotations

import os

from benchmarks import services
from benchmarks.common import Context, Result
from benchmarks.drains import ingest_then_drain
from benchmarks.procs import ProcessFailed

METRIC = "pg_drain_rps_2workers"


def unavailable(reason: str) -> Result:
    return Result({METRIC: None}, {"skipped": reason})


def pg_drain(ctx: Context) -> Result:
    name = f"tidings_bench_{os.getpid()}"
    try:
        url = services.create_database(name)
    except (RuntimeError, OSError) as exc:
        return unavailable(f"PostgreSQL at {services.POSTGRES_URL} unavailable: {exc}")
    try:
        tidings = services.Tidings(ctx.scratch("postgres"), url)
        try:
            tidings.migrate(ctx.procs)
        except ProcessFailed as exc:
            return unavailable(_last_line(str(exc)))
        s = ctx.settings
        ingest, drain = ingest_then_drain(ctx, tidings, 1, s.pg_n, s.pg_workers, profile="pg")
    finally:
        services.drop_database(name)
    details = {"workers": s.pg_workers, "ingest": ingest, "drain": drain.details()}
    return Result({METRIC: drain.rate}, details)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"tidings migrate failed: {lines[-1] if lines else 'no output'}"
