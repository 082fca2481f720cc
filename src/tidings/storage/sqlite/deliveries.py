"""The Queue port on SQLite: the worker's claims, outcomes and leases, and the API's
re-queues, each run on the writer thread over queue.py's SQL."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence

from tidings.domain.models import (
    AttemptResult,
    Backlog,
    ClaimedDelivery,
    Endpoint,
    Message,
    RecordOutcome,
)
from tidings.storage.sqlite import lanes, queue
from tidings.storage.sqlite.access import SqliteAccess
from tidings.storage.sqlite.engine.wal_watch import WalWatch


class SqliteQueue(SqliteAccess):
    async def claim_due(
        self, limit: int, lease_ms: int, room: Mapping[int, int] | None = None
    ) -> list[ClaimedDelivery]:
        return await self._writer.run(
            functools.partial(
                queue.claim_due,
                limit=limit,
                lease_ms=lease_ms,
                room=dict(room or {}),
                ring=self.keys,
            ),
            durable=False,  # a forgotten claim only means the delivery is claimed again
        )

    async def record_attempts(
        self, results: Sequence[AttemptResult], disable_after_ms: int
    ) -> RecordOutcome:
        return await self._writer.run(
            functools.partial(
                queue.record_attempts, results=results, disable_after_ms=disable_after_ms
            ),
            # Losing these to a power cut (not a crash) means the deliveries are sent
            # again, which at-least-once delivery allows; it saves an fsync per batch.
            durable=False,
        )

    async def extend_leases(self, deliveries: Sequence[ClaimedDelivery], lease_ms: int) -> None:
        await self._writer.run(
            functools.partial(queue.extend_leases, deliveries=deliveries, lease_ms=lease_ms),
            durable=False,
        )

    async def release(self, deliveries: Sequence[ClaimedDelivery], delay_ms: int = 0) -> None:
        await self._writer.run(
            functools.partial(queue.release, deliveries=deliveries, delay_ms=delay_ms),
            durable=False,
        )

    async def next_due_at(self, skip_endpoints: Collection[int] = ()) -> int | None:
        row = self._one(lanes.earliest_check(len(skip_endpoints)), tuple(skip_endpoints))
        return None if row is None or row[0] is None or row[0] >= lanes.NEVER else int(row[0])

    async def backlog(self) -> Backlog:
        row = self._one(queue.BACKLOG)
        assert row is not None  # an aggregate always answers one row
        return Backlog(int(row[0]), None if row[1] is None else int(row[1]))

    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109 - an idle bound
        """Another process's commit (`tidings api` beside `tidings worker`) ends the
        wait: see wal_watch.py. Without inotify, this waits out `timeout`."""
        if self._watch is None and not self._watch_failed:
            watch = WalWatch(self._path)
            if watch.start():
                self._watch = watch
            else:
                self._watch_failed = True
        if self._watch is None:
            await super().wait_for_work(timeout)
        else:
            await self._watch.wait(timeout)

    async def resend(self, message: Message, endpoint: Endpoint) -> None:
        await self._writer.run(
            functools.partial(
                queue.resend,
                app_key=message.app_key,
                msg_key=message.key,
                endpoint_key=endpoint.key,
            )
        )

    async def recover(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        return await self._writer.run(
            functools.partial(queue.recover, endpoint_key=endpoint.key, since=since, until=until)
        )

    async def replay_missing(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        return await self._writer.run(
            functools.partial(queue.replay_missing, endpoint=endpoint, since=since, until=until)
        )
