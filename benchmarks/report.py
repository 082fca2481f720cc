"""Writing the results: JSON for machines, a Markdown table for people, a PNG chart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.contention import NOISY_PCT

Results = dict[str, Any]


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    target: str = "—"
    # Returns whether the target is met, or None when it cannot be judged.
    check: Callable[[float, Results], bool | None] | None = None
    throughput: bool = False
    # The metric this one is compared with in the "vs peer" column.
    peer: str | None = None


def _other(results: Results, name: str) -> float | None:
    value = results.get(name)
    return float(value) if isinstance(value, int | float) else None


def _drain_target(value: float, results: Results) -> bool | None:
    raw, celery = _other(results, "raw_ceiling_rps"), _other(results, "celery_drain_rps")
    if raw is None or celery is None:
        return None
    return value >= 0.5 * raw and value >= 10 * celery


def _peer_target(value: float, results: Results) -> bool | None:
    peer = _other(results, "webhook_peer_rps")
    return None if peer is None else value >= peer


def _storm_target(value: float, results: Results) -> bool | None:
    calm = results.get("details", {}).get("storm", {}).get("no_storm_p99_ms")
    return None if calm is None else value <= 2 * calm


def _flood_target(value: float, results: Results) -> bool | None:
    calm = results.get("details", {}).get("flood", {}).get("no_flood_p99_ms")
    return None if calm is None else value <= 2 * calm


def _pg_storm_target(value: float, results: Results) -> bool | None:
    storm = results.get("details", {}).get("postgres", {}).get("storm", {})
    calm = storm.get("no_storm_p99_ms")
    return None if calm is None else value <= 2 * calm


# Latency beside a disturbance against the same run's calm latency: (scenario,
# metric, the calm p99's key in the scenario's details, what the metric measured).
_RATIO_NOTES = (
    (
        "flood",
        "flood_quiet_p99_ms",
        "no_flood_p99_ms",
        "Flood: the quiet applications' p99 {value} ms beside another's flood of "
        "{flood_messages:,} messages",
    ),
    (
        "storm",
        "storm_healthy_p99_ms",
        "no_storm_p99_ms",
        "Storm: healthy endpoints' p99 {value} ms during the storm",
    ),
)


METRICS = (
    Metric("raw_ceiling_rps", "req/s", "baseline", throughput=True),
    Metric("celery_drain_rps", "deliveries/s", "baseline", throughput=True),
    Metric("drain_rps", "deliveries/s", "≥ 0.5× raw and ≥ 10× celery", _drain_target, True),
    Metric("fanout10_drain_rps", "deliveries/s", throughput=True),
    Metric("ingest_rps", "messages/s", "≥ 5000", lambda v, _: v >= 5000),
    Metric("e2e_p50_ms", "ms", "≤ 5", lambda v, _: v <= 5),
    Metric("e2e_p99_ms", "ms", "≤ 25", lambda v, _: v <= 25),
    Metric("e2e_p999_ms", "ms"),
    Metric("backlog_1m_drain_ratio", "×", "≥ 0.8", lambda v, _: v >= 0.8),
    Metric("backlog_1m_rss_mb", "MB", "≤ 300", lambda v, _: v <= 300),
    Metric("storm_healthy_p99_ms", "ms", "≤ 2× no-storm p99", _storm_target),
    Metric("flood_quiet_p99_ms", "ms", "≤ 2× no-flood p99", _flood_target),
    # The same scenarios on PostgreSQL; the latency targets are held to here too.
    Metric("pg_ingest_rps", "messages/s"),
    Metric("pg_drain_rps", "deliveries/s", throughput=True),
    Metric("pg_drain_rps_2workers", "deliveries/s", "≥ 3000", lambda v, _: v >= 3000, True),
    Metric("pg_fanout10_drain_rps", "deliveries/s", throughput=True),
    Metric("pg_e2e_p50_ms", "ms", "≤ 5", lambda v, _: v <= 5),
    Metric("pg_e2e_p99_ms", "ms", "≤ 25", lambda v, _: v <= 25),
    Metric("pg_e2e_p999_ms", "ms"),
    Metric("pg_storm_healthy_p99_ms", "ms", "≤ 2× no-storm p99", _pg_storm_target),
    Metric("pg_backlog_1m_drain_ratio", "×", "≥ 0.8", lambda v, _: v >= 0.8),
    Metric("pg_backlog_1m_rss_mb", "MB", "≤ 300", lambda v, _: v <= 300),
    Metric("webhook_peer_rps", "req/s", "baseline"),
    Metric("webhook_peer_hmac_rps", "req/s", "baseline", peer="webhook_peer_rps"),
    Metric(
        "inbound_accept_rps", "req/s", "≥ 1× webhook peer", _peer_target, peer="webhook_peer_rps"
    ),
    Metric("inbound_actions_rps", "runs/s"),
    Metric("inbound_split_accept_rps", "req/s", peer="webhook_peer_rps"),
    Metric("inbound_serve_accept_rps", "req/s", peer="webhook_peer_rps"),
)


def judge(results: Results) -> dict[str, dict[str, Any]]:
    """For each metric: its target and whether it is met (None: no target or no value)."""
    verdicts = {}
    for metric in METRICS:
        value = _other(results, metric.name)
        met = metric.check(value, results) if metric.check and value is not None else None
        verdicts[metric.name] = {"target": metric.target, "met": met}
    return verdicts


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "—"
    return f"{value / base:.2f}×"


def _met(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[met]


def table(results: Results) -> list[str]:
    raw, celery = _other(results, "raw_ceiling_rps"), _other(results, "celery_drain_rps")
    rows = [
        "| metric | value | unit | vs raw ceiling | vs celery | vs peer | target | met? |",
        "|---|---:|---|---:|---:|---:|---|---|",
    ]
    for metric in METRICS:
        value = _other(results, metric.name)
        verdict = results["targets"][metric.name]
        to_raw = (
            _ratio(value, raw) if metric.throughput and metric.name != "raw_ceiling_rps" else "—"
        )
        to_celery = (
            _ratio(value, celery) if metric.throughput and "celery" not in metric.name else "—"
        )
        to_peer = _ratio(value, _other(results, metric.peer)) if metric.peer else "—"
        rows.append(
            f"| `{metric.name}` | {_number(value)} | {metric.unit} | {to_raw} | "
            f"{to_celery} | {to_peer} | "
            f"{verdict['target']} | {_met(verdict['met'])} |"
        )
    return rows


def markdown(results: Results) -> str:
    m, s = results["machine"], results["settings"]
    lines = [
        f"# Tidings benchmark results ({s['mode']})",
        "",
        f"Generated {results['generated_at']} in {results['duration_s']:.0f} s on "
        f"{m['cores']} cores ({m['cpu_model']}), {m['memory_mb']} MB RAM. "
        f"Tidings measured: {_source(results['versions'].get('tidings_source') or {})}.",
        "",
        *table(results),
        "",
        *_notes(results),
        "## Settings",
        "",
        "```json",
        orjson.dumps(s, option=orjson.OPT_INDENT_2).decode(),
        "```",
        "",
        "## Versions",
        "",
        ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v),
        "",
    ]
    return "\n".join(lines)


def _source(found: dict[str, Any]) -> str:
    commit = (found.get("commit") or "unknown")[:12]
    if found.get("kind") == "git snapshot":
        return f"snapshot of commit `{commit}`"
    dirty = " with uncommitted changes in src/" if found.get("dirty") else ""
    return f"working tree at `{commit}`{dirty}"


def _notes(results: Results) -> list[str]:
    notes = [f"- {note}" for note in results.get("notes", [])]
    notes += [f"- **{name} failed:** {error}" for name, error in results["errors"].items()]
    noisy = {
        name: found["others_cpu_pct"]
        for name, found in results.get("contention", {}).items()
        if found["others_cpu_pct"] >= NOISY_PCT
    }
    if noisy:
        shares = ", ".join(f"{name} {pct:g}%" for name, pct in noisy.items())
        notes.append(
            f"- **Other processes used CPU during some scenarios** ({shares} of the machine): "
            "those figures are pessimistic."
        )
    for scenario, metric, calm, during in _RATIO_NOTES:
        found = results["details"].get(scenario, {})
        if found.get(calm) is not None:
            said = during.format(value=results[metric], **found)
            notes.append(
                f"- {said}, {found[calm]} ms in the same run without it "
                f"(ratio {found['p99_ratio']})."
            )
    pg = results["details"].get("postgres", {})
    if "skipped" in pg:
        notes.append(f"- The `pg_` metrics are null: {pg['skipped']}")
    peer = results["details"].get("inbound", {}).get("peer", {})
    if "unavailable" in peer:
        notes.append(
            f"- `webhook_peer_rps` is null, the peer is unavailable: {peer['unavailable']}"
        )
    return ["## Notes", "", *notes, ""] if notes else []


def rerender(json_path: Path) -> Path:
    """Write the Markdown again from a results JSON (the chart needs the raw samples)."""
    results = orjson.loads(json_path.read_bytes())
    target = json_path.with_suffix(".md")
    target.write_text(markdown(results))
    return target


def write(results: Results, series: dict[str, list[float]], folder: Path, name: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.json", folder / f"{name}.md", folder / f"{name}.png"]
    paths[0].write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    paths[1].write_text(markdown(results))
    from benchmarks.chart import chart

    chart(results, series, paths[2])
    return paths


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:]:
        print(f"wrote {rerender(Path(name))}")
