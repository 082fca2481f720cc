"""How much CPU the rest of the machine used while a scenario ran.

Benchmarks on a shared 2-core machine are only meaningful while nothing else
runs. The CPU time of the whole machine (/proc/stat) minus that of this run (this
process, its reaped children, and the long-lived receiver) is what others used;
it is reported per scenario as a share of the machine's capacity.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
# Warn when others used more than this share of the machine during a scenario.
NOISY_PCT = 5.0
QUIET_SECONDS = 5


def _machine_busy_s() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def _process_cpu_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _own_cpu_s(extra_pids: tuple[int, ...]) -> float:
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return own + sum(_process_cpu_s(pid) for pid in extra_pids)


@dataclass
class Meter:
    """Started before a scenario; `others_cpu_pct()` after it."""

    extra_pids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self._wall = time.monotonic()
        self._busy = _machine_busy_s()
        self._own = _own_cpu_s(self.extra_pids)

    def others_cpu_pct(self) -> float:
        wall = time.monotonic() - self._wall
        others = (_machine_busy_s() - self._busy) - (_own_cpu_s(self.extra_pids) - self._own)
        capacity = wall * (os.cpu_count() or 1)
        return round(max(others, 0.0) / capacity * 100, 1) if capacity > 0 else 0.0


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_quiet(max_wait: float, extra_pids: tuple[int, ...] = ()) -> float:
    """Wait (up to `max_wait` s) for QUIET_SECONDS in a row in which others used under
    NOISY_PCT of the CPU; return the seconds waited."""
    started = time.monotonic()
    quiet = 0
    while quiet < QUIET_SECONDS and time.monotonic() - started < max_wait:
        meter = Meter(extra_pids)
        time.sleep(1.0)
        quiet = quiet + 1 if meter.others_cpu_pct() < NOISY_PCT else 0
    return round(time.monotonic() - started, 1)
