"""The SQLite write-ahead log stays short although commits never checkpoint it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tidings.storage.sqlite.engine.writer import GroupCommitWriter

ROW = b"x" * 10_000
BATCHES, ROWS_PER_BATCH = 100, 20  # 20 MB written, over a second or more


def test_the_checkpointer_keeps_the_wal_bounded(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE blob (data BLOB)")
    writer = GroupCommitWriter(path)
    writer.start()

    def insert(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO blob VALUES (?)", [(ROW,)] * ROWS_PER_BATCH)

    async def write() -> int:
        largest = 0
        for _ in range(BATCHES):
            await writer.run(insert)
            largest = max(largest, (tmp_path / "wal.db-wal").stat().st_size)
            await asyncio.sleep(0.01)
        return largest

    try:
        largest_wal = asyncio.run(write())
        autocheckpoint = writer._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]  # type: ignore[union-attr]
    finally:
        writer.stop()
    assert autocheckpoint == 0  # commits themselves never checkpoint
    # Without checkpoints the log would hold all 20 MB; the checkpointer copies it
    # back every 100 ms, and the log then starts over from its beginning. How short
    # it stays depends on the machine's speed, so only "it started over" is asserted.
    written = len(ROW) * BATCHES * ROWS_PER_BATCH
    print(f"largest WAL: {largest_wal / 1e6:.1f} MB of {written / 1e6:.0f} MB written")
    assert largest_wal < written / 2, largest_wal
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM blob").fetchone()[0] == BATCHES * ROWS_PER_BATCH
