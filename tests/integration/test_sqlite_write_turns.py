"""Group-commit writers of one SQLite file take turns through a lock file beside it."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tidings.storage.sqlite.turns import SUFFIX, WriteTurns
from tidings.storage.sqlite.writer import GroupCommitWriter

ROWS_EACH = 300


def _table(path: Path) -> None:
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE note (writer TEXT, n INTEGER)")


def test_a_writer_waits_while_another_holds_the_turn(tmp_path: Path) -> None:
    path = tmp_path / "turns.db"
    _table(path)
    other = WriteTurns(path)  # stands for another process: its own open file
    other.open()
    writer = GroupCommitWriter(path)
    writer.start()

    async def scenario() -> tuple[bool, bool]:
        other.take()
        write = asyncio.ensure_future(
            writer.run(lambda conn: conn.execute("INSERT INTO note VALUES ('a', 1)"))
        )
        await asyncio.sleep(0.3)
        waited = not write.done()
        other.give_back()
        await asyncio.wait_for(write, 10)
        return waited, write.done()

    try:
        waited, finished = asyncio.run(scenario())
    finally:
        writer.stop()
        other.close()
    assert waited and finished
    assert (tmp_path / f"turns.db{SUFFIX}").exists()
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM note").fetchone()[0] == 1


def test_two_processes_commit_small_groups_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    _table(path)
    script = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from tidings.storage.sqlite.writer import GroupCommitWriter
        writer = GroupCommitWriter(Path(sys.argv[1]))
        writer.start()
        async def main():
            for n in range({ROWS_EACH}):
                await writer.run(lambda c, n=n: c.execute(
                    "INSERT INTO note VALUES (?, ?)", (sys.argv[2], n)))
        asyncio.run(main())
        writer.stop()
    """)
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), name]) for name in ("a", "b")
    ]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    with sqlite3.connect(path) as check:
        counts = dict(check.execute("SELECT writer, count(*) FROM note GROUP BY writer"))
        order = [row[0] for row in check.execute("SELECT writer FROM note ORDER BY rowid")]
    assert counts == {"a": ROWS_EACH, "b": ROWS_EACH}
    # Both wrote while the other did: their rows interleave rather than one waiting
    # out the other's whole run.
    switches = sum(1 for left, right in itertools.pairwise(order) if left != right)
    assert switches > 10, switches


def test_an_in_memory_database_needs_no_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    turns = WriteTurns(Path(":memory:"))
    turns.open()
    turns.take()
    turns.give_back()
    turns.close()
    assert list(tmp_path.iterdir()) == []  # no lock file named after ":memory:"
