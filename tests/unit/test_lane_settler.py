"""The PostgreSQL lane settler's scheduling (storage/postgres/claim.py), with a
stand-in pool: which lanes it settles, in how many statements, and that waiting
for it is bounded when the database stalls. The SQL itself is tested against
PostgreSQL in tests/contract and tests/postgres_only."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from tidings.storage.postgres.claim import LaneSettler


class Pool:
    """Hands out one connection that records each settling statement; while `open`
    is clear, taking it stalls, as with a database that stopped answering."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.settled: list[list[int]] = []

    def acquire(self) -> Pool:
        return self

    async def __aenter__(self) -> Pool:
        await self.open.wait()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def execute(self, sql: str, endpoint_keys: list[int], *args: Any) -> None:
        self.settled.append(endpoint_keys)


def test_waiting_returns_once_the_visited_lanes_are_settled() -> None:
    async def scenario() -> list[list[int]]:
        pool, settler = Pool(), LaneSettler()
        pool.open.clear()
        settler.add(pool, [3, 1])
        asyncio.get_running_loop().call_later(0.01, pool.open.set)
        await settler.wait()
        return pool.settled

    assert asyncio.run(scenario()) == [[1, 3]]


def test_lanes_added_while_one_settles_go_together_in_the_next() -> None:
    async def scenario() -> list[list[int]]:
        pool, settler = Pool(), LaneSettler()
        pool.open.clear()
        settler.add(pool, [1])
        await asyncio.sleep(0)  # the first settle is under way, waiting for the pool
        settler.add(pool, [2])
        settler.add(pool, [3, 2])
        pool.open.set()
        await settler.wait()
        return pool.settled

    assert asyncio.run(scenario()) == [[1], [2, 3]]


def test_nothing_visited_settles_nothing() -> None:
    async def scenario() -> list[list[int]]:
        pool, settler = Pool(), LaneSettler()
        settler.add(pool, [])
        await settler.wait()
        return pool.settled

    assert asyncio.run(scenario()) == []


def test_a_bounded_wait_returns_while_the_database_stalls() -> None:
    async def scenario() -> bool:
        pool, settler = Pool(), LaneSettler()
        pool.open.clear()  # never opens
        settler.add(pool, [1])
        # The bound is the settler's own; wait_for only keeps a broken bound from
        # hanging the suite.
        await asyncio.wait_for(settler.wait(0.01), timeout=30)
        unsettled = not pool.settled
        settler.cancel()
        return unsettled

    assert asyncio.run(scenario())
