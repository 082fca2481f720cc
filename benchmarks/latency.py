"""End-to-end latency under a fixed open-loop rate: alone, beside a failure storm, and
beside another application's flood."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from benchmarks import payloads
from benchmarks.backends import SQLITE, Backend
from benchmarks.common import Context, Result, run_loadgen
from benchmarks.procs import Process
from benchmarks.services import Fixture, Tidings, create_fixture
from benchmarks.stats import percentiles

ALL = range(payloads.ENDPOINTS)
HEALTHY = range(payloads.ENDPOINTS // 2)


def storm_behaviour() -> dict[int, str]:
    """Half the endpoints fail: 50-74 answer 500, 75-99 hang past the deadline."""
    half, quarter = payloads.ENDPOINTS // 2, payloads.ENDPOINTS // 4
    failing = {i: "error" for i in range(half, half + quarter)}
    failing.update({i: "hang" for i in range(half + quarter, payloads.ENDPOINTS)})
    return failing


@dataclass(frozen=True)
class OpenLoopRun:
    rows: list[tuple[int, float, float]]  # (endpoint, sent_at, latency_ms) after warm-up
    loadgen: dict[str, Any]
    stats: dict[str, Any]

    def latencies(self, endpoints: Container[int] = ALL) -> list[float]:
        return [ms for index, _, ms in self.rows if index in endpoints]


def open_loop(
    ctx: Context,
    backend: Backend,
    name: str,
    rate: float,
    duration: float,
    failing: dict[int, str],
    **settings: str,
) -> OpenLoopRun:
    """The backend's serving processes under `rate` messages/s for `duration` s,
    fan-out 1.

    Messages sent in the first `warmup_s` seconds (cold connection pools) are left out.
    """
    processes = backend.serving_api_processes
    with backend.deploy(ctx, name, api_processes=processes, **settings) as tidings:
        return _open_loop(ctx, tidings, backend.serving, rate, duration, failing)


def _open_loop(
    ctx: Context,
    tidings: Tidings,
    commands: tuple[str, ...],
    rate: float,
    duration: float,
    failing: dict[int, str],
) -> OpenLoopRun:
    serving = tuple(tidings.start(ctx.procs, command) for command in commands)
    fixture = create_fixture(tidings, ctx.receiver, 1)
    total = int(rate * duration)
    healthy = sum(1 for seq in range(total) if seq % payloads.ENDPOINTS not in failing)
    ctx.receiver.reset(healthy, failing, record=True)
    loadgen = run_loadgen(
        ctx,
        tidings,
        fixture,
        "open",
        "--rate",
        str(rate),
        "--duration",
        str(duration),
        timeout=duration + 120,
    )
    stats = ctx.receiver.wait_for(healthy, 60, serving, ctx.settings.stall_s)
    cutoff = loadgen["started_at"] + ctx.settings.warmup_s
    rows = [row for row in ctx.receiver.latencies() if row[1] >= cutoff]
    for process in reversed(serving):
        ctx.procs.stop(process)
    return OpenLoopRun(rows, loadgen, stats)


def e2e(ctx: Context, backend: Backend = SQLITE) -> Result:
    s = ctx.settings
    run = open_loop(ctx, backend, "e2e", s.e2e_rate, s.e2e_duration, {})
    samples = run.latencies()
    found = percentiles(samples)
    metrics = backend.metrics(
        {"e2e_p50_ms": found["p50"], "e2e_p99_ms": found["p99"], "e2e_p999_ms": found["p999"]}
    )
    details = {
        "latency_ms": found,
        "rate": s.e2e_rate,
        "duration_s": s.e2e_duration,
        "delivered": run.stats["delivered"],
        "complete": not run.stats["timed_out"],
        "loadgen": run.loadgen,
    }
    return Result(metrics, details, {"e2e": samples})


def storm(ctx: Context, backend: Backend = SQLITE) -> Result:
    s = ctx.settings
    deadline = {"request_timeout": f"{s.storm_request_timeout:g}"}
    calm = open_loop(ctx, backend, "storm-off", s.storm_rate, s.storm_duration, {}, **deadline)
    stormy = open_loop(
        ctx, backend, "storm-on", s.storm_rate, s.storm_duration, storm_behaviour(), **deadline
    )
    calm_ms, storm_ms = calm.latencies(HEALTHY), stormy.latencies(HEALTHY)
    calm_p, storm_p = percentiles(calm_ms), percentiles(storm_ms)
    calm_p99, storm_p99 = calm_p["p99"], storm_p["p99"]
    details = {
        "healthy_endpoints": len(HEALTHY),
        "request_timeout_s": s.storm_request_timeout,
        "rate": s.storm_rate,
        "duration_s": s.storm_duration,
        "no_storm_p99_ms": calm_p99,
        "p99_ratio": round(storm_p99 / calm_p99, 3) if storm_p99 and calm_p99 else None,
        "no_storm_latency_ms": calm_p,
        "storm_latency_ms": storm_p,
        "storm_complete": not stormy.stats["timed_out"],
        "storm_failed_requests": stormy.stats["failed"],
    }
    series = {"storm_off": calm_ms, "storm_on": storm_ms}
    return Result(backend.metrics({"storm_healthy_p99_ms": storm_p99}), details, series)


def flood(ctx: Context, backend: Backend = SQLITE) -> Result:
    """Applications 1-99 send at the e2e rate, first alone, then right after
    application 0 has flooded `flood_messages` messages (from 64 concurrent clients)
    to an endpoint that answers in 100 ms, so a backlog of them waits in the queue:
    the quiet applications' p99 beside it against their p99 alone. Fair claiming is
    what keeps their messages from queueing behind the flood's."""
    s = ctx.settings
    with backend.deploy(ctx, "flood", api_processes=backend.serving_api_processes) as tidings:
        serving = tuple(tidings.start(ctx.procs, command) for command in backend.serving)
        fixture = create_fixture(tidings, ctx.receiver, 1)
        noisy, quiet = Fixture(fixture.apps[:1], 1), Fixture(fixture.apps[1:], 1)
        calm = _quiet_traffic(ctx, tidings, serving, quiet)
        ctx.receiver.reset(0, {0: "slow"})
        flooded = run_loadgen(
            ctx,
            tidings,
            noisy,
            "ingest",
            "--n",
            str(s.flood_messages),
            "--concurrency",
            str(s.ingest_concurrency),
        )
        beside = _quiet_traffic(ctx, tidings, serving, quiet)
        flood_left = _queued(ctx, tidings)
        for process in reversed(serving):
            ctx.procs.stop(process)
    calm_ms, beside_ms = calm.latencies(QUIET), beside.latencies(QUIET)
    calm_p, flood_p = percentiles(calm_ms), percentiles(beside_ms)
    calm_p99, flood_p99 = calm_p["p99"], flood_p["p99"]
    details = {
        "flood_messages": s.flood_messages,
        "quiet_rate": s.e2e_rate,
        "duration_s": s.flood_duration,
        "no_flood_p99_ms": calm_p99,
        "p99_ratio": round(flood_p99 / calm_p99, 3) if flood_p99 and calm_p99 else None,
        "no_flood_latency_ms": calm_p,
        "flood_latency_ms": flood_p,
        "flood_ingest": flooded,
        "flood_left_queued": flood_left,
        "complete": not beside.stats["timed_out"],
    }
    series = {"flood_off": calm_ms, "flood_on": beside_ms}
    return Result(backend.metrics({"flood_quiet_p99_ms": flood_p99}), details, series)


QUIET = range(1, payloads.ENDPOINTS)


def _quiet_traffic(
    ctx: Context, tidings: Tidings, serving: tuple[Process, ...], quiet: Fixture
) -> OpenLoopRun:
    """The quiet applications' open-loop traffic for `flood_duration` seconds."""
    s = ctx.settings
    total = int(s.e2e_rate * s.flood_duration)
    ctx.receiver.reset(total, {0: "slow"}, record=True)
    options = ("--rate", str(s.e2e_rate), "--duration", str(s.flood_duration))
    loadgen = run_loadgen(ctx, tidings, quiet, "open", *options, timeout=s.flood_duration + 120)
    stats = ctx.receiver.wait_for(total, s.timeout_for(total), serving, s.stall_s)
    cutoff = loadgen["started_at"] + s.warmup_s
    rows = [row for row in ctx.receiver.latencies() if row[1] >= cutoff]
    return OpenLoopRun(rows, loadgen, stats)


def _queued(ctx: Context, tidings: Tidings) -> int | None:
    """How many of the flood's messages were still waiting at the end (SQLite)."""
    if not tidings.database_url.startswith("sqlite:"):
        return None
    reading = sqlite3.connect(f"file:{tidings.sqlite_path}?mode=ro", uri=True)
    with contextlib.closing(reading) as db:
        (found,) = db.execute("SELECT count(*) FROM delivery WHERE status IN (1, 3)").fetchone()
    return int(found)
