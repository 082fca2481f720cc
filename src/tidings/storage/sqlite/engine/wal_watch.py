"""Waking an idle worker when another process commits to the same SQLite file.

PostgreSQL has LISTEN/NOTIFY; SQLite has nothing of the kind, so a `tidings
worker` beside a `tidings api` on one file found new messages only by polling, up
to 50 ms late. Every commit appends to the write-ahead log, so the worker asks
the kernel (inotify, Linux) to tell it when `<file>-wal` is written, and looks for
work then. A wake-up is only a hint, as a notification is on PostgreSQL: it may
come from any write (this process's own included), and polling still bounds the
wait where inotify is unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

_IN_MODIFY = 0x00000002
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_READ_SIZE = 64 * 1024


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.inotify_init1  # noqa: B018 - present only on Linux
        libc.inotify_add_watch  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


class WalWatch:
    """`wait(timeout)` returns early once the WAL file has been written to."""

    def __init__(self, database: Path) -> None:
        self._wal = Path(f"{database}-wal")
        self._fd: int | None = None
        self._written = asyncio.Event()

    def start(self) -> bool:
        """Watch the WAL from this event loop; False (polling only) if we cannot."""
        libc = _libc()
        if libc is None or not self._wal.exists():
            return False
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            log.warning(
                "inotify unavailable (%s); the worker polls", os.strerror(ctypes.get_errno())
            )
            return False
        if libc.inotify_add_watch(fd, os.fsencode(self._wal), _IN_MODIFY) < 0:
            log.warning(
                "cannot watch %s (%s); the worker polls", self._wal, os.strerror(ctypes.get_errno())
            )
            os.close(fd)
            return False
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._on_events)
        return True

    def stop(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 - an idle bound
        """Return at once if the WAL was written since the last wait returned (a
        commit while the caller looked for work counts), else at the next write."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._written.wait(), timeout)
        self._written.clear()

    def _on_events(self) -> None:
        assert self._fd is not None
        with contextlib.suppress(BlockingIOError):
            while os.read(self._fd, _READ_SIZE):  # drain: one wake-up per burst of writes
                pass
        self._written.set()
