"""The PNG: throughput bars, and the distribution of end-to-end latencies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

BARS = (
    ("raw_ceiling_rps", "raw aiohttp ceiling"),
    ("celery_drain_rps", "Celery + Redis + requests"),
    ("drain_rps", "Tidings drain (fan-out 1)"),
    ("fanout10_drain_rps", "Tidings drain (fan-out 10)"),
    ("ingest_rps", "Tidings ingest (messages/s)"),
    ("pg_drain_rps", "Tidings on PostgreSQL, drain"),
    ("pg_drain_rps_2workers", "Tidings on PostgreSQL, 2 workers"),
    ("pg_ingest_rps", "Tidings on PostgreSQL, ingest"),
)
CURVES = (
    ("e2e", "e2e, all healthy"),
    ("storm_off", "healthy half, no storm"),
    ("storm_on", "healthy half, during storm"),
    ("flood_off", "quiet apps, no flood"),
    ("flood_on", "quiet apps, beside a flood"),
    ("pg_e2e", "e2e on PostgreSQL"),
)


def _throughput(ax: Axes, results: dict[str, Any]) -> None:
    shown = [(label, results.get(name)) for name, label in BARS]
    labels = [label for label, _ in shown]
    values = [value or 0.0 for _, value in shown]
    tidings = len(BARS) - 2
    bars = ax.barh(labels, values, color=["#999999", "#d62728", *["#1f77b4"] * tidings])
    for bar, (_, value) in zip(bars, shown, strict=True):
        text = f"{value:,.0f}" if value is not None else "n/a"
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {text}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("per second")
    ax.set_title("Throughput")
    ax.margins(x=0.25)


def _latency(ax: Axes, series: dict[str, list[float]], results: dict[str, Any]) -> None:
    for name, label in CURVES:
        samples = sorted(series.get(name, []))
        if not samples:
            continue
        share = [100 * (i + 1) / len(samples) for i in range(len(samples))]
        ax.plot(samples, share, label=f"{label} (n={len(samples):,})")
    for metric, style in (("e2e_p50_ms", ":"), ("e2e_p99_ms", "--"), ("e2e_p999_ms", "-.")):
        if results.get(metric):
            ax.axvline(
                results[metric],
                color="grey",
                linestyle=style,
                linewidth=0.8,
                label=f"{metric.removeprefix('e2e_').removesuffix('_ms')} {results[metric]:.1f} ms",
            )
    ax.set_xscale("log")
    ax.set_xlabel("ingest → receipt (ms, log scale)")
    ax.set_ylabel("% of deliveries at or below")
    ax.set_title("End-to-end latency (CDF)")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="lower right")


def chart(results: dict[str, Any], series: dict[str, list[float]], path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(15, 5.5))
    _throughput(left, results)
    _latency(right, series, results)
    machine = results["machine"]
    figure.suptitle(
        f"Tidings benchmarks ({results['settings']['mode']}), "
        f"{machine['cores']} cores {machine['cpu_model']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
