"""Run the benchmark suite: `python -m benchmarks.run [--quick] [--only NAME ...] [--profile]`.

Each scenario starts its own processes and stops them, whatever happens; a
scenario that fails leaves its metrics null, records why, and the others still run.
Full runs write results/latest.{json,md,png}; `--quick` writes results/quick.*.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import contention, environment, profiles, report, source
from benchmarks.backlog import backlog
from benchmarks.baselines import celery_drain, raw_ceiling
from benchmarks.common import Context, Result
from benchmarks.drains import drain_and_ingest, fanout_drain, ingest_only
from benchmarks.inbound import inbound
from benchmarks.latency import e2e, flood, storm
from benchmarks.postgres import postgres
from benchmarks.procs import ROOT, Processes
from benchmarks.services import start_receiver
from benchmarks.settings import FULL, QUICK, BenchSettings

RESULTS = ROOT / "benchmarks" / "results"
SCENARIOS: dict[str, Callable[[Context], Result]] = {
    "raw": raw_ceiling,
    "celery": celery_drain,
    "drain": drain_and_ingest,
    "fanout": fanout_drain,
    "e2e": e2e,
    "storm": storm,
    "flood": flood,
    "backlog": backlog,
    "postgres": postgres,
    "inbound": inbound,
}
# Run only when named with --only: parts of the scenarios above, for quick measurements.
EXTRA: dict[str, Callable[[Context], Result]] = {"ingest": ingest_only}
NOTES = (
    "Rates are counted by the receiver from the first delivery to the last one, so process "
    "start-up is excluded (it is reported per scenario as `startup_s`).",
    "`ingest_rps` is the ingest phase of the `drain_rps` scenario: 64 concurrent aiohttp "
    "clients, `tidings api` alone with one HTTP process per core (`--api-processes`), each "
    "202 after a durable commit.",
    "Latencies are receipt time minus the send time stamped into the payload just before the "
    "POST, on one machine clock; messages sent during the warm-up are left out.",
    "The backlog scenario seeds message and delivery rows with SQL (applications and endpoints "
    "through the API), because ingesting 1,000,000 messages over HTTP would dominate the run; "
    "the large-backlog rate and peak RSS cover its first `backlog_window` deliveries.",
    "`inbound_accept_rps` is signed GitHub requests answered 200 (verified and committed) by "
    "`tidings serve --api-processes N` (one HTTP process per core and a worker process that "
    "runs a `/bin/true` action; `inbound_split_accept_rps`: the same processes started as "
    "`tidings api` and `tidings worker`; `inbound_serve_accept_rps`: all in one `tidings "
    "serve` process), from 64 concurrent aiohttp clients; the same "
    "requests to adnanh/webhook running `/bin/true` (no check, nothing stored) give "
    "`webhook_peer_rps`, and with its HMAC rule `webhook_peer_hmac_rps`.",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes; under 2 minutes")
    parser.add_argument(
        "--only", nargs="+", choices=[*SCENARIOS, *EXTRA], help="run only these scenarios"
    )
    parser.add_argument(
        "--messages", type=int, help="messages for the drain and ingest scenarios (drain N)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample Tidings with py-spy into results/profile/"
    )
    parser.add_argument("--output", help="results name (default: latest, quick, or partial)")
    parser.add_argument("--keep-temp", action="store_true", help="keep databases and logs")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        help="seconds to wait before each scenario for other processes to go idle",
    )
    parser.add_argument(
        "--noisy-retries", type=int, help="reruns of a scenario disturbed by other processes"
    )
    parser.add_argument(
        "--ref", help="measure this git revision's src/ (a snapshot) instead of the working tree"
    )
    return parser.parse_args(argv)


def output_name(args: argparse.Namespace) -> str:
    if args.output:
        return str(args.output)
    if args.only or args.profile:
        return "partial"
    return "quick" if args.quick else "latest"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@dataclass
class Outcome:
    """One scenario's result (or why it failed), and how busy the rest of the machine was."""

    result: Result | None
    error: str | None
    others_cpu_pct: float
    waited_for_quiet_s: float


def run_scenario(name: str, scenario: Callable[[Context], Result], base: Context) -> Outcome:
    """Run once, and again while other processes disturbed it; keep the least disturbed run."""
    best = run_once(name, scenario, base)
    for _ in range(base.settings.noisy_retries):
        if best.others_cpu_pct < contention.NOISY_PCT or best.result is None:
            break
        print(f"    others used the CPU: running {name} again", flush=True)
        again = run_once(name, scenario, base)
        if again.result is not None and again.others_cpu_pct < best.others_cpu_pct:
            best = again
    return best


def run_once(name: str, scenario: Callable[[Context], Result], base: Context) -> Outcome:
    receiver_pid = (base.receiver.process.pid,)
    waited = contention.wait_for_quiet(base.settings.quiet_wait_s, receiver_pid)
    print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
    started, meter = time.monotonic(), contention.Meter(receiver_pid)
    result, error = None, None
    with Processes() as procs:
        ctx = Context(base.settings, base.receiver, procs, base.workdir, base.profile_dir)
        try:
            result = scenario(ctx)
        except Exception as exc:  # one broken scenario must not lose the others' results
            traceback.print_exc()
            error = f"{type(exc).__name__}: {exc}"
    outcome = Outcome(result, error, meter.others_cpu_pct(), waited)
    print(f"    {_shown(outcome)}  ({time.monotonic() - started:.0f} s)", flush=True)
    return outcome


def _shown(outcome: Outcome) -> str:
    if outcome.result is None:
        return f"failed: {outcome.error}"
    metrics = ", ".join(
        f"{k}={v:.1f}" if v is not None else f"{k}=n/a" for k, v in outcome.result.metrics.items()
    )
    return f"{metrics}; others used {outcome.others_cpu_pct:g}% of the CPU"


def run_all(
    settings: BenchSettings, names: list[str], workdir: Path, profile_dir: Path | None
) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    with Processes() as procs:
        receiver = start_receiver(procs, workdir)
        base = Context(settings, receiver, procs, workdir, profile_dir)
        for name in names:
            outcomes[name] = run_scenario(name, {**SCENARIOS, **EXTRA}[name], base)
    return outcomes


def assemble(
    settings: BenchSettings, outcomes: dict[str, Outcome], duration: float
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    results: dict[str, Any] = {metric.name: None for metric in report.METRICS}
    details, errors, series = {}, {}, {}
    for name, outcome in outcomes.items():
        if outcome.result is None:
            errors[name] = outcome.error
            continue
        metrics = outcome.result.metrics
        results.update({k: None if v is None else round(v, 3) for k, v in metrics.items()})
        details[name] = outcome.result.details
        series.update(outcome.result.series)
    results.update(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(duration, 1),
        machine=environment.machine(),
        versions={**environment.versions(), "tidings_source": source.describe()},
        settings={**settings.to_json(), "scenarios": list(outcomes)},
        notes=list(NOTES),
        contention={name: _contention(outcome) for name, outcome in outcomes.items()},
        details=details,
        errors=errors,
    )
    results["targets"] = report.judge(results)
    return results, series


def _contention(outcome: Outcome) -> dict[str, float]:
    return {"others_cpu_pct": outcome.others_cpu_pct, "waited_s": outcome.waited_for_quiet_s}


def chosen_settings(args: argparse.Namespace) -> BenchSettings:
    settings = QUICK if args.quick else FULL
    if args.quiet_wait is not None:
        settings = replace(settings, quiet_wait_s=args.quiet_wait)
    if args.noisy_retries is not None:
        settings = replace(settings, noisy_retries=args.noisy_retries)
    if args.messages is not None:
        settings = replace(settings, drain_n=args.messages)
    return settings


def write_profile_summary(folder: Path) -> None:
    sections = [profiles.summary(path, top=25) for path in sorted(folder.glob("*.txt"))]
    summary = folder / "summary.md"
    commit = str(source.describe().get("commit") or "unknown")[:12]
    heading = f"# py-spy profiles of Tidings `{commit}` (100 Hz, --nonblocking)\n\n"
    summary.write_text(heading + "\n".join(sections))
    print(f"wrote {summary.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ref and source.SNAPSHOT_ENV not in os.environ:
        argv = sys.argv[1:] if argv is None else argv
        source.reexec_on(args.ref, argv)
    signal.signal(signal.SIGTERM, _interrupt)
    settings = chosen_settings(args)
    names = list(args.only or SCENARIOS)
    profile_dir = RESULTS / "profile" if args.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=RESULTS / "tmp"))
    started = time.monotonic()
    try:
        outcomes = run_all(settings, names, workdir, profile_dir)
    finally:
        if not args.keep_temp:
            shutil.rmtree(workdir, ignore_errors=True)
            source.remove_snapshot()
    results, series = assemble(settings, outcomes, time.monotonic() - started)
    for path in report.write(results, series, RESULTS, output_name(args)):
        # --output may name a path outside the repository.
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if profile_dir:
        write_profile_summary(profile_dir)
    print("\n".join(report.table(results)))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
