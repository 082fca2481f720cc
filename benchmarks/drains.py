"""Tidings throughput: ingest through the API with no worker, then time the drain."""

from __future__ import annotations

from typing import Any

from benchmarks.backends import SQLITE, Backend
from benchmarks.common import Context, Drain, Result, run_loadgen, timed_drain
from benchmarks.procs import Process
from benchmarks.services import API_PROCESSES, Fixture, Tidings, create_fixture


def ingest_then_drain(
    ctx: Context,
    tidings: Tidings,
    fanout: int,
    messages: int,
    workers: int = 1,
    profile: str | None = None,
) -> tuple[dict[str, Any], Drain]:
    """`tidings api` accepts `messages` while no worker runs; then `workers` drain them."""
    api = tidings.start(ctx.procs, "api")
    fixture = create_fixture(tidings, ctx.receiver, fanout)
    ingest = _ingest(ctx, tidings, fixture, messages, api, profile)
    ctx.procs.stop(api)
    if ingest["accepted"] != messages:
        raise RuntimeError(f"only {ingest['accepted']} of {messages} accepted: {ingest}")

    def start_workers() -> list[Process]:
        # Started together, each draining as soon as it is up: the drain counts from the start.
        return [
            tidings.start(ctx.procs, "worker", f"worker-{i}", ready=False) for i in range(workers)
        ]

    drain = timed_drain(
        ctx, messages * fanout, start_workers, profile and f"{profile}-worker-drain"
    )
    return ingest, drain


def _ingest(
    ctx: Context,
    tidings: Tidings,
    fixture: Fixture,
    messages: int,
    api: Process,
    profile: str | None,
) -> dict[str, Any]:
    return run_loadgen(
        ctx,
        tidings,
        fixture,
        "ingest",
        "--n",
        str(messages),
        "--concurrency",
        str(ctx.settings.ingest_concurrency),
        profile_target=api,
        profile=profile and f"{profile}-api-ingest",
    )


def drain_and_ingest(ctx: Context, backend: Backend = SQLITE, workers: int = 1) -> Result:
    """`ingest_rps` and `drain_rps` (`drain_rps_{workers}workers` for more than one)."""
    with backend.deploy(ctx, "drain", api_processes=API_PROCESSES) as tidings:
        profile = f"{backend.metric_prefix}fanout1"
        ingest, drain = ingest_then_drain(ctx, tidings, 1, ctx.settings.drain_n, workers, profile)
    drained = "drain_rps" if workers == 1 else f"drain_rps_{workers}workers"
    metrics = backend.metrics({"ingest_rps": ingest["accepted_per_s"], drained: drain.rate})
    return Result(metrics, {"workers": workers, "ingest": ingest, "drain": drain.details()})


def ingest_only(ctx: Context) -> Result:
    """Only the accept phase of `drain`: quick to repeat while working on the API."""
    tidings = Tidings.on_sqlite(ctx.scratch("ingest"), api_processes=API_PROCESSES)
    api = tidings.start(ctx.procs, "api")
    fixture = create_fixture(tidings, ctx.receiver, 1)
    cpu_before = api.cpu_s()
    ingest = _ingest(ctx, tidings, fixture, ctx.settings.drain_n, api, "ingest")
    cpu_after = api.cpu_s()
    ctx.procs.stop(api)
    if cpu_before is not None and cpu_after is not None and ingest["accepted"]:
        # CPU the API spent per accepted message: steadier than the rate on a busy machine.
        ingest["api_cpu_us_per_msg"] = round((cpu_after - cpu_before) / ingest["accepted"] * 1e6, 1)
    return Result({"ingest_rps": ingest["accepted_per_s"]}, {"ingest": ingest})


def fanout_drain(ctx: Context, backend: Backend = SQLITE) -> Result:
    fanout, messages = ctx.settings.fanout, ctx.settings.fanout_messages
    with backend.deploy(ctx, "fanout", api_processes=API_PROCESSES) as tidings:
        profile = f"{backend.metric_prefix}fanout10"
        ingest, drain = ingest_then_drain(ctx, tidings, fanout, messages, profile=profile)
    details = {"fanout": fanout, "messages": messages, "ingest": ingest, "drain": drain.details()}
    return Result(backend.metrics({"fanout10_drain_rps": drain.rate}), details)
