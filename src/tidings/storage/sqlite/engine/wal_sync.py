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
the sender, never answered, sends it again: a webhook with the same delivery id
is recognised as a repeat, and an API message with the same idempotency key or
event id, but one sent with neither becomes a second message.

A log that a checkpoint restarted or that was replaced is not a problem: frames
are copied out of the log only after it is synced, and the database file is
synced after the copy, so whatever the old log held is durable already. The file
is reopened when its inode changes. Its name is the one SQLite uses, the database
file's as SQLite resolved it (a symlinked database keeps its log beside the real
file).

A failed sync cannot be retried: Linux reports a write-back error once, and the
pages that failed may be marked clean, so a later sync would succeed without
having written them. The writer then refuses every later write (writer.py) until
the process is restarted and SQLite recovers from what is really on disk.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

# Where fdatasync is missing (macOS), fsync does the same job.
_sync = getattr(os, "fdatasync", os.fsync)


class WalSync:
    """fdatasync of the log of the database `conn` has open; a no-op for an
    in-memory database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        # (seq, name, file) of the main database; the file is "" in memory.
        database = conn.execute("PRAGMA database_list").fetchone()[2]
        self._path = Path(f"{database}-wal") if database else None
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
