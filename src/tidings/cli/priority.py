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
the API processes, so ranking its threads is enough there; it goes further and
runs under SCHED_IDLE (Linux): it gets the CPU only when no thread of normal
priority wants it, and is preempted the moment one does. Beside API processes
receiving webhooks as fast as they could, its share of the CPU fell by about a
third (100-134 against 160-198 µs per accepted request for a separate `tidings
worker` at nice 10). On a machine kept busy by the API processes its deliveries
wait until the load eases; run `tidings worker` separately to give it a share of
its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

_THREADS = Path("/proc/self/task")
_AUTOGROUP = Path("/proc/self/autogroup")


def lower_worker_priority(nice: int, idle: bool = False) -> None:
    """Lower every thread to `nice`; with `idle`, also to SCHED_IDLE where it exists.
    A `nice` of 0 leaves the priority alone, SCHED_IDLE included."""
    if nice <= 0:
        return
    if idle and hasattr(os, "SCHED_IDLE"):
        for thread in _threads():
            with contextlib.suppress(OSError):
                os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
    if not hasattr(os, "setpriority"):  # Windows has no nice values
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
