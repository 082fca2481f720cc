"""Small statistics helpers shared by the load generators and the report."""

from __future__ import annotations

import math
from collections.abc import Sequence

QUANTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p999": 0.999}


def quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of already sorted values."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, **{name: None for name in QUANTILES}, "max": None}
    found: dict[str, float | int | None] = {"count": len(ordered)}
    found.update({name: round(quantile(ordered, q), 3) for name, q in QUANTILES.items()})
    found["max"] = round(ordered[-1], 3)
    return found


def rate(count: int, first_at: float | None, last_at: float | None) -> float | None:
    """Events per second between the first and the last of `count` events."""
    if first_at is None or last_at is None or count < 2 or last_at <= first_at:
        return None
    return (count - 1) / (last_at - first_at)
