"""Making committed groups durable after the write lock is given back.

With `synchronous=FULL`, SQLite fsyncs the write-ahead log inside COMMIT, while
the transaction still holds the write lock that every Tidings process shares
(turns.py). Under load that fsync took 1-2 ms, half the time a group held the
lock: the processes' fsyncs ran one after another and the lock, not the CPU,
bounded how many webhooks a second the API processes could accept.

So the group-commit writer commits with `synchronous=NORMAL` (the frames are
written to the log, not synced), gives the lock back, and only then syncs the log
with `fdatasync` before it answers anyone. The fsyncs of different processes now
overlap, and the disk can merge them. Every frame written before the sync, this
group's included, is on disk when it returns, so an answered write survives a
power cut exactly as under FULL. What changes is only that the commit is visible
to readers for the moment before its sync: a worker may start acting on an event
whose sender is not yet answered, and if the machine loses power in that moment
the sender sends it again (delivery is at least once, with the same id).

A log that a checkpoint restarted or that was replaced is not a problem: frames
are copied out of the log only after it is synced, and the database file is
synced after the copy, so whatever the old log held is durable already. The file
is reopened when its inode changes.
"""

from __future__ import annotations

import os
from pathlib import Path

# Where fdatasync is missing (macOS), fsync does the same job.
_sync = getattr(os, "fdatasync", os.fsync)


class WalSync:
    """fdatasync of `<database>-wal`; a no-op for an in-memory database."""

    def __init__(self, database: Path) -> None:
        memory = str(database) == ":memory:"
        self._path = None if memory else Path(f"{database}-wal")
        self._fd: int | None = None
        self._inode: int | None = None

    def sync(self) -> None:
        """Everything written to the log so far is on disk when this returns.
        Raises OSError if the disk refuses."""
        if self._path is None:
            return
        inode = os.stat(self._path).st_ino
        if self._fd is None or inode != self._inode:
            self.close()
            self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            self._inode = os.fstat(self._fd).st_ino
        _sync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
