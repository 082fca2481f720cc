"""The group-commit writer's batches: a group's items of one key in one call."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tidings.domain.errors import InvalidInput, StorageUnavailable
from tidings.storage.sqlite.engine.writer import Batch, GroupCommitWriter


class Notes:
    """A batch function that inserts its items as rows, one statement per call,
    and remembers each call's items; an item "bad" fails alone. With `fail`, it
    writes a row and then raises it."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[list[str]] = []
        self._fail = fail

    def __call__(self, conn: sqlite3.Connection, items: list[str]) -> list[int | Exception]:
        self.calls.append(items)
        if self._fail is not None:
            conn.execute("INSERT INTO note VALUES ('written before the failure')")
            raise self._fail
        good = [item for item in items if item != "bad"]
        conn.executemany("INSERT INTO note VALUES (?)", [(item,) for item in good])
        return [InvalidInput(f"{item} refused") if item == "bad" else len(item) for item in items]


def _plain(conn: sqlite3.Connection) -> str:
    conn.execute("INSERT INTO note VALUES ('plain')")
    return "plain"


def _in_one_group(
    path: Path, queue: Callable[[GroupCommitWriter], list[Awaitable[Any]]]
) -> list[Any]:
    """Queue writes before the writer's thread starts, so that its first group
    takes them all; their outcomes."""
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE note (text TEXT UNIQUE)")
    writer = GroupCommitWriter(path)

    async def scenario() -> list[Any]:
        waiting = [asyncio.ensure_future(write) for write in queue(writer)]
        await asyncio.sleep(0)  # each write is queued
        writer.start()
        return await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 10)

    try:
        return asyncio.run(scenario())
    finally:
        writer.stop()


def _notes(path: Path) -> list[str]:
    with sqlite3.connect(path) as check:
        return [row[0] for row in check.execute("SELECT text FROM note ORDER BY rowid")]


def test_items_of_one_key_run_in_one_call_where_the_first_stood(tmp_path: Path) -> None:
    path = tmp_path / "batches.db"
    notes, others = Notes(), Notes()
    outcomes = _in_one_group(
        path,
        lambda writer: [
            writer.run_batched(Batch("notes", "a", notes)),
            writer.run(_plain),
            writer.run_batched(Batch("others", "x", others)),
            writer.run_batched(Batch("notes", "bb", notes)),
            writer.run_batched(Batch("notes", "bad", notes)),
            writer.run_batched(Batch("notes", "ccc", notes)),
        ],
    )
    assert notes.calls == [["a", "bb", "bad", "ccc"]] and others.calls == [["x"]]
    assert outcomes[:4] == [1, "plain", 1, 2] and outcomes[5] == 3
    assert isinstance(outcomes[4], InvalidInput)  # its own failure, the others kept
    assert _notes(path) == ["a", "bb", "ccc", "plain", "x"]


def test_a_refused_batch_is_undone_and_the_group_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "refused.db"
    notes = Notes(fail=InvalidInput("refused part-way"))
    outcomes = _in_one_group(
        path,
        lambda writer: [
            writer.run_batched(Batch("notes", "a", notes)),
            writer.run_batched(Batch("notes", "b", notes)),
            writer.run(_plain),
        ],
    )
    assert [type(outcome) for outcome in outcomes[:2]] == [InvalidInput, InvalidInput]
    assert outcomes[2] == "plain"
    assert _notes(path) == ["plain"]


def test_a_batch_failing_after_a_write_rolls_back_the_whole_group(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    notes = Notes(fail=RuntimeError("after a write"))
    outcomes = _in_one_group(
        path,
        lambda writer: [
            writer.run(_plain),
            writer.run_batched(Batch("notes", "a", notes)),
            writer.run_batched(Batch("notes", "b", notes)),
        ],
    )
    assert [type(outcome) for outcome in outcomes] == [
        StorageUnavailable,
        RuntimeError,
        RuntimeError,
    ]
    assert _notes(path) == []


def test_a_batch_answering_for_too_few_items_rolls_back_the_group(tmp_path: Path) -> None:
    path = tmp_path / "short.db"

    def short(conn: sqlite3.Connection, items: list[str]) -> list[int | Exception]:
        conn.execute("INSERT INTO note VALUES ('half')")
        return [1]

    outcomes = _in_one_group(
        path,
        lambda writer: [
            writer.run(_plain),
            writer.run_batched(Batch("short", "a", short)),
            writer.run_batched(Batch("short", "b", short)),
        ],
    )
    assert [type(outcome) for outcome in outcomes] == [
        StorageUnavailable,
        RuntimeError,
        RuntimeError,
    ]
    assert _notes(path) == []


def _temp_store(conn: sqlite3.Connection, items: list[str]) -> list[int | Exception]:
    value: int = conn.execute("PRAGMA temp_store").fetchone()[0]
    return [value] * len(items)


def test_a_group_of_batches_only_keeps_its_journal_in_memory(tmp_path: Path) -> None:
    """A batch's savepoint journal would spill to a temporary file past 64 KiB; a
    group of batches is small, so it stays in memory (temp_store 2). A group with
    any other job keeps the default (0): that job may journal gigabytes."""
    path = tmp_path / "journal.db"
    [batches_only] = _in_one_group(
        path,
        lambda writer: [
            writer.run_batched(Batch("pragma", "a", _temp_store, size=1)),
        ],
    )
    mixed = _in_one_group(
        tmp_path / "mixed.db",
        lambda writer: [
            writer.run_batched(Batch("pragma", "a", _temp_store, size=1)),
            writer.run(lambda conn: conn.execute("PRAGMA temp_store").fetchone()[0]),
        ],
    )
    assert batches_only == 2
    assert mixed == [0, 0]
