"""WAL checkpoints on a thread of their own, off the group-commit writer's path.

By default SQLite checkpoints inside whichever COMMIT pushes the WAL past 1,000
pages: that commit copies megabytes into the database file and fsyncs it while
every request of the next group waits. Here the writer's connection never
checkpoints (`wal_autocheckpoint=0`); this thread runs PASSIVE checkpoints, which
never block writers or readers, over its own connection, with the GIL released
while SQLite copies and syncs. Once everything is copied and no reader needs the
old frames, the next write starts the WAL over from its beginning, so the file
stays bounded.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from tidings.storage.sqlite.connection import connect

log = logging.getLogger(__name__)

# How often frames are copied back; at thousands of commits per second the WAL
# grows by a megabyte or so in this time. With nothing new, a pass costs nothing.
INTERVAL_SECONDS = 0.1


class Checkpointer:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, name="tidings-sqlite-checkpoint", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _serve(self) -> None:
        conn = connect(self._path)
        try:
            while not self._stop.wait(INTERVAL_SECONDS):
                _checkpoint(conn)
            _checkpoint(conn)
        finally:
            conn.close()


def _checkpoint(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as exc:  # the writer's commits go on regardless; try again
        log.warning("WAL checkpoint failed: %s", exc)
