"""End-to-end latency under a fixed open-loop rate, with and without a failure storm."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from benchmarks import payloads
from benchmarks.backends import SQLITE, Backend
from benchmarks.common import Context, Result, run_loadgen
from benchmarks.services import API_PROCESSES, Tidings, create_fixture
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
    with backend.deploy(ctx, name, api_processes=API_PROCESSES, **settings) as tidings:
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
