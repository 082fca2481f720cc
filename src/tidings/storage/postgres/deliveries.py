"""The Queue port on PostgreSQL: the worker's claims, outcomes and leases, and the
API's re-queues, over the SQL of claim.py, queue.py and lanes.py."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from tidings.domain.models import (
    AttemptResult,
    Backlog,
    ClaimedDelivery,
    Endpoint,
    Message,
    RecordOutcome,
)
from tidings.storage.postgres import claim, lanes, queue
from tidings.storage.postgres.access import PostgresAccess
from tidings.storage.postgres.notify import WorkListener


class PostgresQueue(PostgresAccess):
    # Settles the lanes a claim visited, beside the deliveries it started.
    _settler: claim.LaneSettler
    # The LISTEN connection, opened on the first wait for work.
    _listener: WorkListener

    async def claim_due(
        self, limit: int, lease_ms: int, room: Mapping[int, int] | None = None
    ) -> list[ClaimedDelivery]:
        pool = self._ready_pool()
        claimed, visited = await self._connection(
            lambda conn: claim.claim_due(conn, limit, lease_ms, room or {}, self.keys)
        )
        # Settling the visited lanes takes a transaction of its own (about as long as
        # the claim): the deliveries start meanwhile rather than after it.
        self._settler.add(pool, visited)
        return claimed

    async def record_attempts(
        self, results: Sequence[AttemptResult], disable_after_ms: int
    ) -> RecordOutcome:
        async with self._transaction() as conn:
            return await queue.record_attempts(conn, results, disable_after_ms)

    async def extend_leases(self, deliveries: Sequence[ClaimedDelivery], lease_ms: int) -> None:
        await self._connection(lambda conn: queue.extend_leases(conn, deliveries, lease_ms))

    async def release(self, deliveries: Sequence[ClaimedDelivery], delay_ms: int = 0) -> None:
        async with self._transaction() as conn:
            await queue.release(conn, deliveries, delay_ms)

    async def next_due_at(self, skip_endpoints: Collection[int] = ()) -> int | None:
        # Lanes a claim visited tell the truth once settled: an idle worker asks this
        # right after claiming, and would claim again for nothing otherwise.
        await self._settler.wait()
        due = await self._fetchval(lanes.NEXT_CHECK, list(skip_endpoints))
        return None if due is None or due >= lanes.NEVER else int(due)

    async def backlog(self) -> Backlog:
        row = await self._fetchrow(queue.BACKLOG)
        assert row is not None  # an aggregate always answers one row
        earliest = row["earliest"]
        return Backlog(int(row["pending"]), None if earliest is None else int(earliest))

    # The parameter's name is the interface's.
    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109
        await self._listener.wait(timeout)

    async def resend(self, message: Message, endpoint: Endpoint) -> None:
        async with self._transaction() as conn:
            await queue.resend(conn, message.app_key, message.key, endpoint.key, self._announce)

    async def recover(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        async with self._transaction() as conn:
            return await queue.recover(conn, endpoint, since, until, self._announce)

    async def replay_missing(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        async with self._transaction() as conn:
            return await queue.replay_missing(conn, endpoint, since, until, self._announce)
