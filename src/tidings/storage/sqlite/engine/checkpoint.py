"""WAL checkpoints on a thread of their own, off the group-commit writer's path.

By default SQLite checkpoints inside whichever COMMIT pushes the WAL past 1,000
pages: that commit copies megabytes into the database file and fsyncs it while
every request of the next group waits. Here the writer's connection never
checkpoints (`wal_autocheckpoint=0`); this thread runs PASSIVE checkpoints, which
never block writers or readers, over its own connection, with the GIL released
while SQLite copies and syncs. Once everything is copied and no reader needs the
old frames, the next write starts the WAL over from its beginning, so the file
stays bounded.

Under steady writes that moment may never come: a write lands while each passive
pass copies, so the pass ends behind the log and the next write cannot start it
over. Once the log holds more than RESTART_FRAMES, this thread takes a writer's
turn (turns.py), so no Tidings writer is mid-transaction, and runs a RESTART
checkpoint, which copies the rest and lets the next write start the log over.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from tidings.domain.errors import StorageUnavailable
from tidings.storage.sqlite.connection import connect
from tidings.storage.sqlite.engine.background import BackgroundThread
from tidings.storage.sqlite.engine.turns import WriteTurns

log = logging.getLogger(__name__)

# How often frames are copied back; at thousands of commits per second the WAL
# grows by a megabyte or so in this time. With nothing new, a pass costs nothing.
INTERVAL_SECONDS = 0.1
# About 4 MB of 4 KiB pages: past this, a pass that fell behind forces a restart.
RESTART_FRAMES = 1000


class Checkpointer(BackgroundThread):
    def __init__(self, path: Path) -> None:
        super().__init__("tidings-sqlite-checkpoint")
        self._path = path
        self._turns = WriteTurns(path)

    def _serve(self) -> None:
        conn = connect(self._path)
        self._turns.open()
        try:
            while not self._stop.wait(INTERVAL_SECONDS):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()
            self._turns.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames > RESTART_FRAMES:
                self._restart(conn)
        except (sqlite3.Error, StorageUnavailable) as exc:  # commits go on; try again
            log.warning("WAL checkpoint failed: %s", exc)

    def _restart(self, conn: sqlite3.Connection) -> None:
        self._turns.take()
        try:
            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            self._turns.give_back()
