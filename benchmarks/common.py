"""What every scenario shares: its context, its result, and the timed steps it is built from."""

from __future__ import annotations

import contextlib
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.procs import PYTHON, Process, Processes, ProcessFailed, python_module
from benchmarks.services import Fixture, ReceiverControl, Tidings
from benchmarks.settings import BenchSettings
from benchmarks.stats import rate

Metrics = dict[str, float | None]


@dataclass
class Context:
    settings: BenchSettings
    receiver: ReceiverControl
    procs: Processes
    workdir: Path
    profile_dir: Path | None = None

    def scratch(self, name: str) -> Path:
        """A new, empty folder for one run of a scenario (a rerun gets another one)."""
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))


@dataclass
class Result:
    metrics: Metrics
    details: dict[str, Any] = field(default_factory=dict)
    # Raw samples for the chart (latencies in ms); not written to the JSON.
    series: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Drain:
    """What the receiver saw while processes drained a backlog of `target` deliveries."""

    target: int
    stats: dict[str, Any]
    spawned_at: float
    peak_rss_mb: list[float | None]

    @property
    def complete(self) -> bool:
        return not self.stats["timed_out"]

    @property
    def rate(self) -> float | None:
        """Deliveries/s from the first receipt to the last, excluding process start-up."""
        end = self.stats["target_at"] if self.complete else self.stats["last_at"]
        return rate(self.stats["delivered"], self.stats["first_at"], end)

    def details(self) -> dict[str, Any]:
        stats = self.stats
        end = stats["target_at"] or stats["last_at"]
        return {
            "deliveries": stats["delivered"],
            "target": self.target,
            "complete": self.complete,
            "stalled": stats["stalled"],
            "rate_per_s": _round(self.rate),
            "startup_s": _round(stats["first_at"] - self.spawned_at if stats["first_at"] else None),
            "wall_s_from_spawn": _round(end - self.spawned_at if end else None),
            "duplicates": stats["duplicates"],
            "failed_requests": stats["failed"],
            "signatures_checked": stats["verified"],
            "bad_signatures": stats["bad_signatures"],
            "peak_rss_mb": [_round(mb) for mb in self.peak_rss_mb],
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def timed_drain(
    ctx: Context,
    target: int,
    start: Callable[[], list[Process]],
    profile: str | None = None,
    stop: bool = True,
) -> Drain:
    """Reset the receiver, start the draining processes, wait for `target` deliveries.

    Their peak RSS is read while they still run; then they are stopped unless `stop`
    is false (for a process that ends by itself).
    """
    ctx.receiver.reset(target)
    spawned = time.time()
    workers = start()
    with profiled(ctx, workers[0], profile):
        stats = ctx.receiver.wait_for(
            target, ctx.settings.timeout_for(target), tuple(workers), ctx.settings.stall_s
        )
    drain = Drain(target, stats, spawned, [worker.peak_rss_mb() for worker in workers])
    for worker in workers if stop else ():
        ctx.procs.stop(worker, timeout=30)
    return drain


def run_loadgen(
    ctx: Context,
    tidings: Tidings,
    fixture: Fixture,
    mode: str,
    *options: str,
    profile_target: Process | None = None,
    profile: str | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Run the load generator process against `tidings`; return its JSON summary."""
    out = tidings.workdir / f"loadgen-{mode}-{time.monotonic_ns()}.json"
    argv = python_module(
        "benchmarks.loadgen",
        mode,
        "--url",
        tidings.api_url,
        "--token",
        tidings.token,
        "--apps",
        ",".join(fixture.apps),
        "--out",
        str(out),
        *options,
    )
    loadgen = ctx.procs.start(Process(f"loadgen {mode}", argv, tidings.workdir / "loadgen.log"))
    with profiled(ctx, profile_target, profile):
        code = loadgen.wait(timeout)
    if code != 0:
        raise ProcessFailed(f"load generator failed ({code}):\n{loadgen.tail()}")
    summary: dict[str, Any] = orjson.loads(out.read_bytes())
    return summary


@contextlib.contextmanager
def profiled(ctx: Context, target: Process | None, name: str | None) -> Iterator[None]:
    """Sample `target` with py-spy while the block runs, if this run profiles."""
    if ctx.profile_dir is None or target is None or name is None:
        yield
        return
    output = ctx.profile_dir / f"{name}.txt"
    argv = [
        "py-spy",
        "record",
        "--pid",
        str(target.pid),
        "--format",
        "raw",
        "--nonblocking",
        "--threads",
        "--subprocesses",  # `tidings api --api-processes N` serves from its children
        "--rate",
        "100",
        "--output",
        str(output),
    ]
    spy = ctx.procs.start(
        Process(f"py-spy {name}", _venv_tool(argv), ctx.profile_dir / "py-spy.log")
    )
    try:
        yield
    finally:
        spy.signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        with contextlib.suppress(ProcessFailed):
            spy.wait(timeout=60)
        ctx.procs.stop(spy)


def _venv_tool(argv: list[str]) -> list[str]:
    tool = Path(PYTHON).parent / argv[0]
    return [str(tool) if tool.exists() else argv[0], *argv[1:]]
