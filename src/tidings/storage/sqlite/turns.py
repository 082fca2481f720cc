"""Turns at SQLite's write lock for the processes that share one database file.

SQLite lets one transaction write at a time. A process that finds the lock taken
waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... up to 100 ms between
tries and never learns when the lock is freed: while one process commits group
after group, another can wait for whole seconds (a `tidings worker` beside a busy
`tidings api` recorded a few hundred attempts a second while thousands of events
queued). So every group-commit writer first takes an exclusive `flock` on a file
next to the database. The kernel queues the waiters and wakes one the moment the
holder lets go, and `flock` releases the GIL while it waits.

The busy handler stays as the backstop for writers that do not take turns (the
`sqlite3` shell, a migration): the flock only orders Tidings' own writers.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

SUFFIX = "-writer.lock"


class WriteTurns:
    """An exclusive, blocking turn shared by every process that opens the same file."""

    def __init__(self, database: Path) -> None:
        # An in-memory database belongs to one connection; it has no one to share with.
        self._path = None if str(database) == ":memory:" else Path(f"{database}{SUFFIX}")
        self._fd: int | None = None

    def open(self) -> None:
        if self._path is not None and self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def take(self) -> None:
        """Wait for this process's turn (other processes' holders finish first)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def give_back(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
