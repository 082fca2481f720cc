"""Counts and observations gathered in plain dictionaries on the hot paths, and
added to the Prometheus instruments at most once a second, before every scrape of
this process, and at exit.

A prometheus_client call checks its arguments and takes a lock (and, with several
processes behind one port, writes a shared file): about a microsecond, several
times a dictionary update, on every request and every attempt. The totals are the
same; another process's scrape sees this one's within a second.
"""

from __future__ import annotations

import asyncio
import atexit
from bisect import bisect_left
from typing import Any

from prometheus_client import Counter, Histogram

FLUSH_SECONDS = 1.0

Labels = tuple[str, ...]


class Tally:
    def __init__(self) -> None:
        self._counts: dict[tuple[Counter, Labels], float] = {}
        # Per histogram and labels: one count per bucket (the last is +Inf), then the sum.
        self._observed: dict[tuple[Histogram, Labels], list[float]] = {}
        self._bounds: dict[Histogram, list[float]] = {}
        # The loop a flush is due on; None when none is.
        self._scheduled: asyncio.AbstractEventLoop | None = None

    def count(self, counter: Counter, labels: Labels = (), amount: float = 1.0) -> None:
        key = (counter, labels)
        self._counts[key] = self._counts.get(key, 0.0) + amount
        self._flush_later()

    def observe(self, histogram: Histogram, value: float, labels: Labels = ()) -> None:
        key = (histogram, labels)
        slots = self._observed.get(key)
        bounds = self._bounds.get(histogram)
        if bounds is None:
            bounds = self._bounds[histogram] = list(_child(histogram, labels)._upper_bounds)
        if slots is None:
            slots = self._observed[key] = [0.0] * (len(bounds) + 1)
        slots[bisect_left(bounds, value)] += 1  # the first bucket whose bound is >= value
        slots[-1] += value
        self._flush_later()

    def flush(self) -> None:
        """Add what was gathered to the instruments."""
        self._scheduled = None
        counts, self._counts = self._counts, {}
        for (counter, labels), amount in counts.items():
            _child(counter, labels).inc(amount)
        observed, self._observed = self._observed, {}
        for (histogram, labels), slots in observed.items():
            child = _child(histogram, labels)
            # What `observe` does once per value, done once per bucket: the
            # client's histogram keeps one count per bucket and the sum.
            for index, count in enumerate(slots[:-1]):
                if count:
                    child._buckets[index].inc(count)
            child._sum.inc(slots[-1])

    def _flush_later(self) -> None:
        scheduled = self._scheduled
        # Checked before asking for the running loop: on Python 3.11 that asks the
        # kernel for the process id, each time. A flush due on a loop that has ended
        # (in tests) never runs, so one is scheduled again.
        if scheduled is not None and not scheduled.is_closed():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to flush later: now
            self.flush()
            return
        self._scheduled = loop
        loop.call_later(FLUSH_SECONDS, self.flush)


def _child(metric: Any, labels: Labels) -> Any:
    return metric.labels(*labels) if labels else metric


TALLY = Tally()
atexit.register(TALLY.flush)
