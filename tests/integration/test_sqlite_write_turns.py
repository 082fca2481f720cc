"""Group-commit writers of one SQLite file take turns through a lock file beside it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidings.domain.errors import StorageUnavailable
from tidings.storage.sqlite.engine.turns import SUFFIX, WriteTurns
from tidings.storage.sqlite.engine.writer import GroupCommitWriter

ROWS_EACH = 300


def _table(path: Path) -> None:
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE note (writer TEXT, n INTEGER)")


@contextlib.contextmanager
def _writer_beside_another(
    path: Path, patience: float | None = None
) -> Iterator[tuple[GroupCommitWriter, WriteTurns]]:
    """A started writer on a new database, and the turns of another process (its
    own open file of the lock); `patience` replaces the writer's 10 s wait."""
    _table(path)
    other = WriteTurns(path)
    other.open()
    writer = GroupCommitWriter(path) if patience is None else GroupCommitWriter(path, patience)
    writer.start()
    try:
        yield writer, other
    finally:
        writer.stop()
        other.close()


def _notes(path: Path) -> int:
    with sqlite3.connect(path) as check:
        count: int = check.execute("SELECT count(*) FROM note").fetchone()[0]
    return count


def _insert(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO note VALUES ('w', 1)")


def test_a_writer_waits_while_another_holds_the_turn(tmp_path: Path) -> None:
    path = tmp_path / "turns.db"

    async def scenario(writer: GroupCommitWriter, other: WriteTurns) -> tuple[bool, bool]:
        other.take()
        write = asyncio.ensure_future(writer.run(_insert))
        await asyncio.sleep(0.3)
        waited = not write.done()
        other.give_back()
        await asyncio.wait_for(write, 10)
        return waited, write.done()

    with _writer_beside_another(path) as (writer, other):
        waited, finished = asyncio.run(scenario(writer, other))
    assert waited and finished
    assert (tmp_path / f"turns.db{SUFFIX}").exists()
    assert _notes(path) == 1


def test_a_turn_that_never_comes_fails_the_group_and_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "stuck.db"

    async def scenario(writer: GroupCommitWriter, other: WriteTurns) -> None:
        other.take()  # a process that holds the lock and does not let go
        with pytest.raises(StorageUnavailable, match="held the write lock"):
            await writer.run(_insert)
        other.give_back()
        await asyncio.wait_for(writer.run(_insert), 10)

    with _writer_beside_another(path, patience=0.3) as (writer, other):
        asyncio.run(scenario(writer, other))
    assert _notes(path) == 1


def test_writes_queued_behind_a_turn_that_never_comes_fail_too(tmp_path: Path) -> None:
    path = tmp_path / "queued.db"

    async def scenario(writer: GroupCommitWriter, other: WriteTurns) -> list[object]:
        other.take()
        first = asyncio.ensure_future(writer.run(_insert))
        await asyncio.sleep(0.05)  # the writer now waits for the turn with the first
        later = [asyncio.ensure_future(writer.run(_insert)) for _ in range(3)]
        outcomes = await asyncio.wait_for(asyncio.gather(first, *later, return_exceptions=True), 10)
        other.give_back()
        await asyncio.wait_for(writer.run(_insert), 10)
        return outcomes

    with _writer_beside_another(path, patience=0.3) as (writer, other):
        outcomes = asyncio.run(scenario(writer, other))
    assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes), outcomes
    assert _notes(path) == 1  # none of the failed writes ran once the turn came


def test_the_turn_is_given_back_after_a_failed_group(tmp_path: Path) -> None:
    path = tmp_path / "failed.db"

    def broken(conn: sqlite3.Connection) -> None:
        _insert(conn)
        raise RuntimeError("after a write")

    async def scenario(writer: GroupCommitWriter) -> None:
        with pytest.raises(RuntimeError, match="after a write"):
            await writer.run(broken, savepoint=False)  # the whole group is rolled back

    with _writer_beside_another(path) as (writer, other):
        asyncio.run(scenario(writer))
        other.take()  # would fail after 10 s if the writer still held it
        other.give_back()
    assert _notes(path) == 0


def test_two_processes_commit_small_groups_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    _table(path)
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import asyncio, sys, time
        from pathlib import Path
        from tidings.storage.sqlite.engine.writer import GroupCommitWriter
        writer = GroupCommitWriter(Path(sys.argv[1]))
        writer.start()
        Path(sys.argv[1] + ".ready-" + sys.argv[2]).touch()
        while not Path({str(go)!r}).exists():  # both start writing together
            time.sleep(0.001)
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
    ready = [Path(f"{path}.ready-{name}") for name in ("a", "b")]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    with sqlite3.connect(path) as check:
        counts = dict(check.execute("SELECT writer, count(*) FROM note GROUP BY writer"))
        order = [row[0] for row in check.execute("SELECT writer FROM note ORDER BY rowid")]
    assert counts == {"a": ROWS_EACH, "b": ROWS_EACH}
    # Both wrote while the other did: their rows interleave rather than one waiting
    # out the other's whole run (which would be one switch). How often they take
    # turns depends on the machine; that each took the log back at least once does not.
    switches = sum(1 for left, right in itertools.pairwise(order) if left != right)
    print(f"{switches} switches between the two writers")
    assert switches >= 3, switches


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


def test_stopping_while_the_turn_never_comes_answers_the_waiting_write(tmp_path: Path) -> None:
    """stop() returns after about the patience, its thread left waiting for the
    turn, and a write waiting with it fails rather than staying unanswered."""
    path = tmp_path / "waiting.db"
    _table(path)
    other = WriteTurns(path)
    other.open()
    other.take()
    writer = GroupCommitWriter(path, patience=0.3)
    writer.start()

    async def scenario() -> None:
        write = asyncio.ensure_future(writer.run(_insert))
        await asyncio.sleep(0.05)  # waiting for the turn when the stop begins
        stopping = asyncio.get_running_loop().run_in_executor(None, writer.stop)
        with pytest.raises(StorageUnavailable):
            await asyncio.wait_for(write, 10)
        await asyncio.wait_for(stopping, 10)

    try:
        asyncio.run(scenario())
    finally:
        other.give_back()
        other.close()
    time.sleep(0.2)  # the turn comes now: the failed write must not run
    assert _notes(path) == 0
