"""The group-commit writer's batches: a group's items of one key in one call."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tidings.domain.errors import InvalidInput, StorageUnavailable
from tidings.storage.sqlite.turns import WriteTurns
from tidings.storage.sqlite.writer import Batch, GroupCommitWriter


class Notes:
    """A batch function that inserts its items as rows, one statement per call,
    and remembers each call's items; an item "bad" fails alone."""

    def __init__(self, raise_first: Exception | None = None) -> None:
        self.calls: list[list[str]] = []
        self._raise = raise_first

    def __call__(self, conn: sqlite3.Connection, items: list[str]) -> list[int | Exception]:
        self.calls.append(items)
        if self._raise is not None:
            if isinstance(self._raise, RuntimeError):
                conn.execute("INSERT INTO note VALUES ('written before the failure')")
            raise self._raise
        good = [item for item in items if item != "bad"]
        conn.executemany("INSERT INTO note VALUES (?)", [(item,) for item in good])
        return [InvalidInput(f"{item} refused") if item == "bad" else len(item) for item in items]


def _plain(conn: sqlite3.Connection) -> str:
    conn.execute("INSERT INTO note VALUES ('plain')")
    return "plain"


def _in_one_group(
    path: Path, queue: Callable[[GroupCommitWriter], list[Awaitable[Any]]]
) -> list[Any]:
    """Queue writes while another process holds the turn, so that one group gets
    them all; their outcomes once it is given back."""
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE note (text TEXT)")
    other = WriteTurns(path)
    other.open()
    writer = GroupCommitWriter(path)
    writer.start()

    async def scenario() -> list[Any]:
        other.take()
        waiting = [asyncio.ensure_future(write) for write in queue(writer)]
        await asyncio.sleep(0.1)
        other.give_back()
        return await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 10)

    try:
        return asyncio.run(scenario())
    finally:
        writer.stop()
        other.close()


def _notes(path: Path) -> list[str]:
    with sqlite3.connect(path) as check:
        return [row[0] for row in check.execute("SELECT text FROM note ORDER BY rowid")]


def test_items_of_one_key_run_in_one_call_where_the_first_stood(tmp_path: Path) -> None:
    path = tmp_path / "batches.db"
    notes, others = Notes(), Notes()
    outcomes = _in_one_group(path, lambda writer: [
        writer.run_batched(Batch("notes", "a", notes)),
        writer.run(_plain),
        writer.run_batched(Batch("others", "x", others)),
        writer.run_batched(Batch("notes", "bb", notes)),
        writer.run_batched(Batch("notes", "bad", notes)),
        writer.run_batched(Batch("notes", "ccc", notes)),
    ])  # fmt: skip
    assert notes.calls == [["a", "bb", "bad", "ccc"]] and others.calls == [["x"]]
    assert outcomes[:4] == [1, "plain", 1, 2] and outcomes[5] == 3
    assert isinstance(outcomes[4], InvalidInput)  # its own failure, the others kept
    assert _notes(path) == ["a", "bb", "ccc", "plain", "x"]


def test_a_refused_batch_fails_its_items_and_the_group_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "refused.db"
    notes = Notes(raise_first=InvalidInput("refused before any write"))
    outcomes = _in_one_group(path, lambda writer: [
        writer.run_batched(Batch("notes", "a", notes)),
        writer.run_batched(Batch("notes", "b", notes)),
        writer.run(_plain),
    ])  # fmt: skip
    assert [type(outcome) for outcome in outcomes[:2]] == [InvalidInput, InvalidInput]
    assert outcomes[2] == "plain"
    assert _notes(path) == ["plain"]


def test_a_batch_failing_after_a_write_rolls_back_the_whole_group(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    notes = Notes(raise_first=RuntimeError("after a write"))
    outcomes = _in_one_group(path, lambda writer: [
        writer.run(_plain),
        writer.run_batched(Batch("notes", "a", notes)),
        writer.run_batched(Batch("notes", "b", notes)),
    ])  # fmt: skip
    assert [type(outcome) for outcome in outcomes] == [
        StorageUnavailable,
        RuntimeError,
        RuntimeError,
    ]
    assert _notes(path) == []
