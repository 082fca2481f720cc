"""Per-endpoint queue changes on SQLite find their rows through an index, never a scan.

SQLite uses a partial index only for a query that repeats the index's condition,
so a query that says `status = 1` where the index says `status IN (1, 3)` would
read the whole delivery table: on a million-row queue, once per call. Each
statement the queue functions run is captured and explained here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tidings.storage.sqlite import queue
from tidings.storage.sqlite.connection import connect
from tidings.storage.sqlite.migrate import migrate

ENDPOINT = 7
CALLS: dict[str, Callable[[sqlite3.Connection], object]] = {
    "park_for_endpoint": lambda conn: queue.park_for_endpoint(conn, ENDPOINT),
    "unpark": lambda conn: queue.unpark(conn, ENDPOINT),
    "cancel_for_endpoint": lambda conn: queue.cancel_for_endpoint(conn, ENDPOINT),
    "recover": lambda conn: queue.recover(conn, ENDPOINT, 0, None),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_queue_changes_for_one_endpoint_use_an_index(tmp_path: Path, name: str) -> None:
    conn = connect(tmp_path / "plans.db")
    migrate(conn)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    CALLS[name](conn)
    conn.set_trace_callback(None)
    on_delivery = [sql for sql in statements if "delivery" in sql and "lane" not in sql]
    assert on_delivery, statements
    for sql in on_delivery:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        assert not [step for step in plan if step.startswith("SCAN delivery")], (sql, plan)
        assert any("USING INDEX" in step for step in plan), (sql, plan)
    conn.close()
