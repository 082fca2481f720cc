"""Turns at SQLite's write lock for the processes that share one database file.

SQLite lets one transaction write at a time. A process that finds the lock taken
waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... up to 100 ms between
tries: while one process commits group after group, another can wait for whole
seconds (a `tidings worker` beside a busy `tidings api` recorded a few hundred
attempts a second while thousands of events queued). So every Tidings writer
first takes an exclusive `flock` on a file next to the database.

The group-commit writer waits for it in a blocking `flock` (`wait_for_turn`): the
kernel wakes it the moment the lock is freed, and the wait costs nothing. Trying
again every 50 to 500 microseconds instead woke each waiting writer thousands of
times a second when two API processes and a worker committed back to back, which
cost a tenth of the CPU of an inbound request and slowed every process. A blocking
`flock` takes no deadline, so the writer bounds the wait itself (writer.py). The
checkpointer, which takes a turn only now and then, tries again with pauses until
its deadline (`take`).

The busy handler stays as the backstop for writers that do not take turns (the
`sqlite3` shell, a migration): the flock only orders Tidings' own writers.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from tidings.domain.errors import StorageUnavailable
from tidings.storage.sqlite.connection import BUSY_TIMEOUT_MS

SUFFIX = "-writer.lock"
FIRST_RETRY_SECONDS, LONGEST_RETRY_SECONDS = 0.00005, 0.0005


class WriteTurns:
    """An exclusive turn shared by every process that opens the same file."""

    def __init__(self, database: Path, patience: float = BUSY_TIMEOUT_MS / 1000) -> None:
        # An in-memory database belongs to one connection; it has no one to share with.
        self._path = None if str(database) == ":memory:" else Path(f"{database}{SUFFIX}")
        self._fd: int | None = None
        self._patience = patience

    def open(self) -> None:
        if self._path is not None and self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def wait_for_turn(self) -> None:
        """Block until this process's turn; for as long as it takes."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def take(self) -> None:
        """Try for this process's turn until the patience runs out, then raise
        StorageUnavailable."""
        if self._fd is None:
            return
        deadline = time.monotonic() + self._patience
        pause = FIRST_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StorageUnavailable(
                        f"another process held the write lock for {self._patience:g}s"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, LONGEST_RETRY_SECONDS)

    def give_back(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
