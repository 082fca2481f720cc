"""Opening SQLite the one way Tidings needs it: WAL, commits on disk before anyone
is told (the group-commit writer syncs the log itself, wal_sync.py)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

# How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000


def path_from_url(url: str) -> Path:
    """`sqlite:///relative.db`, `sqlite:////absolute.db` or `sqlite:///:memory:`."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite URL: {url!r} (expected sqlite:///path)")
    return Path(url.removeprefix("sqlite:///"))


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (it holds customers'
    data); SQLite gives its log and shared-memory files the same mode.

    Only ever a new file: opening and closing an existing one would drop every
    POSIX lock this process holds on it (closing any descriptor of a file does),
    which SQLite's connections rely on, so that another process could believe
    itself the last user and delete the log under them."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # Files made by an earlier version are narrowed (chmod opens nothing).
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if name.stat().st_mode & 0o077:
                name.chmod(0o600)


def connect(path: Path) -> sqlite3.Connection:
    if str(path) != ":memory:":
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create_private(path)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a group of
    # requests can share one transaction and one fsync.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit has reached the disk before any request is answered. The
    # group-commit writer switches to NORMAL and syncs the log itself once it has
    # given the write lock back (wal_sync.py).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA cache_size=-65536")
    return conn
