"""Recording outcomes that lags behind delivering, and outcomes gathered into
fewer writes while attempts keep ending.

The worker claims at recording's pace: the outcomes it holds unrecorded stay
bounded by its concurrency instead of piling up in memory (a million-delivery
backlog on PostgreSQL once grew a worker to 685 MB that way, in ever larger record
batches). And a worker stopped while a batch is being written lets that write
finish: cancelling it would lose outcomes already taken from the buffer, and their
deliveries would be sent again once their leases lapsed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tidings.delivery.guard import AddressPolicy
from tidings.delivery.worker import (
    RECORD_INTERVAL_SECONDS,
    UNRECORDED_ALLOWANCE,
    Worker,
    WorkerOptions,
)
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.models import Application, AttemptResult, Endpoint, Message
from tidings.domain.statuses import DeliveryStatus
from tidings.storage import Store, open_store
from tidings.storage.ports import RecordOutcome
from tidings.testing import Receiver

CONCURRENCY = 4
MESSAGES = 120
RECORD_DELAY_SECONDS = 0.1


class SlowRecording:
    """A real store whose recording of outcomes takes longer, as a database whose
    tables hold a huge backlog makes it; it notes each batch's size."""

    def __init__(self, store: Store, delay: float = RECORD_DELAY_SECONDS) -> None:
        self._store = store
        self._delay = delay
        self.batches: list[int] = []
        self.started_at: list[float] = []  # the loop's clock when each write began
        self.writing = asyncio.Event()  # set while a batch is being written

    async def record_attempts(
        self, results: Sequence[AttemptResult], disable_after_ms: int
    ) -> RecordOutcome:
        self.batches.append(len(results))
        self.started_at.append(asyncio.get_running_loop().time())
        self.writing.set()
        try:
            await asyncio.sleep(self._delay)
            return await self._store.record_attempts(results, disable_after_ms)
        finally:
            self.writing.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def _queue_messages(store: Store, url: str) -> None:
    now = now_ms()
    app = await store.create_application(
        Application(id=ids.new_id(ids.APP), name="A", created_at=now, updated_at=now)
    )
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    await store.create_endpoint(
        Endpoint(id=ids.new_id(ids.ENDPOINT), app_key=app.key, url=url, secret=secret)
    )
    for _ in range(MESSAGES):
        message = Message(
            id=ids.new_id(ids.MESSAGE),
            app_key=app.key,
            event_type="a",
            payload=b"{}",
            created_at=now_ms(),
        )
        await store.create_message(app, message, None)


async def _deliver_all(
    database: Path,
    receiver: Receiver,
    stop_mid_flush: bool,
    delay: float = RECORD_DELAY_SECONDS,
    concurrency: int = CONCURRENCY,
) -> SlowRecording:
    store = open_store(f"sqlite:///{database}")
    await store.open()
    try:
        await _queue_messages(store, receiver.url())
        slow = SlowRecording(store, delay)
        loopback = AddressPolicy(allow_loopback=True)
        options = WorkerOptions(
            retry_schedule=[0, 5], request_timeout=5, concurrency=concurrency, policy=loopback
        )
        worker = Worker(slow, options)  # type: ignore[arg-type]
        stopping = asyncio.Event()
        running = asyncio.create_task(worker.run(stopping))
        await asyncio.to_thread(receiver.wait_for, MESSAGES)
        if stop_mid_flush:
            # The last outcomes are not recorded yet: a write is under way or starts now.
            await asyncio.wait_for(slow.writing.wait(), 10)
        else:  # every outcome is recorded by the running worker, not by its stop
            await asyncio.wait_for(_recorded(slow, MESSAGES), 10)
        stopping.set()
        await running
        return slow
    finally:
        await store.close()


async def _recorded(recording: SlowRecording, count: int) -> None:
    while sum(recording.batches) < count or recording.writing.is_set():  # noqa: ASYNC110 - two conditions
        await asyncio.sleep(0.01)


def _statuses(database: Path) -> dict[int, int]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        found = db.execute("SELECT status, count(*) FROM delivery GROUP BY status").fetchall()
    return {status: count for status, count in found}


def test_unrecorded_outcomes_stay_bounded_while_recording_lags(tmp_path: Path) -> None:
    with Receiver() as receiver:
        batches = asyncio.run(_deliver_all(tmp_path / "lagging.db", receiver, False)).batches
    assert sum(batches) == MESSAGES  # every outcome was recorded, once
    # At most the allowance plus those in flight; without the bound a batch holds
    # whatever was delivered during the previous 100 ms write (here, nearly all).
    assert max(batches) <= (UNRECORDED_ALLOWANCE + 1) * CONCURRENCY < MESSAGES / 2


def test_a_worker_stopped_mid_write_records_that_batch_once(tmp_path: Path) -> None:
    database = tmp_path / "stopped.db"
    with Receiver() as receiver:
        batches = asyncio.run(_deliver_all(database, receiver, True)).batches
        sent = len(receiver.received())
    assert sum(batches) == MESSAGES == sent
    assert _statuses(database) == {int(DeliveryStatus.SUCCESS): MESSAGES}


def test_outcomes_ending_one_by_one_are_recorded_together(tmp_path: Path) -> None:
    # One attempt at a time: outcomes end a few milliseconds apart, and each write
    # is quick, so without a pause between writes each would get its own.
    with Receiver() as receiver:
        recording = asyncio.run(
            _deliver_all(tmp_path / "one-by-one.db", receiver, False, delay=0, concurrency=1)
        )
    assert sum(recording.batches) == MESSAGES
    started = recording.started_at
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    # Each write waits out the interval since the last (a timer may fire a little
    # early): a bound the worker keeps, not a speed target.
    assert min(gaps) >= RECORD_INTERVAL_SECONDS - 0.002
