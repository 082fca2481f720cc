"""The worker's CPU priority: below the processes that receive webhooks.

Answering a sender quickly is what keeps it from timing out and sending again;
what the worker does (deliveries, the programs actions run) is already stored and
can wait a moment. So `tidings worker` lowers itself to the nice value
TIDINGS_WORKER_NICE (10 by default; 0 leaves it as it is). On a busy machine the
API processes get the CPU first; on an idle one the worker runs as fast as ever.

Linux keeps a nice value per thread: every thread of the process is lowered, and
the threads it starts later and the programs its actions run inherit it. Where
the kernel shares the CPU between sessions first (autogroup scheduling, common on
desktop and VM kernels), nice values only rank threads within a session; a worker
that leads its own session (a service, or `setsid tidings worker`) lowers that
session too. It never raises a priority someone else lowered further.

The worker that `tidings serve --api-processes N` starts shares the session of
the API processes, so ranking its threads is enough there. It is not put under
SCHED_IDLE: its SQLite writer holds the write lock that the API processes wait
for, and a thread that only runs when nothing else wants the CPU (or that waits
for the GIL behind one) would keep them waiting for as long as they kept the CPU
busy.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

_THREADS = Path("/proc/self/task")
_AUTOGROUP = Path("/proc/self/autogroup")


def lower_worker_priority(nice: int) -> None:
    if nice <= 0 or not hasattr(os, "setpriority"):  # Windows has no nice values
        return
    for thread in _threads():
        with contextlib.suppress(OSError):  # a thread that just ended
            if os.getpriority(os.PRIO_PROCESS, thread) < nice:
                os.setpriority(os.PRIO_PROCESS, thread, nice)
    if os.getsid(0) == os.getpid() and _AUTOGROUP.exists():
        try:
            _AUTOGROUP.write_text(str(nice))
        except OSError as exc:  # a read-only /proc, or the kernel's rate limit
            log.debug("could not lower this session's autogroup: %s", exc)
    log.info("worker running at nice %d", os.getpriority(os.PRIO_PROCESS, 0))


def _threads() -> list[int]:
    """Every thread of this process (on Linux); elsewhere the process as a whole."""
    try:
        return [int(name) for name in os.listdir(_THREADS)]
    except OSError:
        return [0]
