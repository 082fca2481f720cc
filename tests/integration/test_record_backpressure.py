"""When recording outcomes falls behind delivering, the worker claims at recording's
pace: the outcomes it holds unrecorded stay bounded by its concurrency instead of
piling up in memory (a million-delivery backlog on PostgreSQL once grew a worker
to 685 MB that way, in ever larger record batches)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tidings.delivery.guard import AddressPolicy
from tidings.delivery.worker import UNRECORDED_ALLOWANCE, Worker, WorkerOptions
from tidings.dispatch import select_endpoints
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.models import Application, AttemptResult, Endpoint, Message
from tidings.storage import Store, open_store
from tidings.storage.base import RecordOutcome
from tidings.testing import Receiver

CONCURRENCY = 4
MESSAGES = 120
RECORD_DELAY_SECONDS = 0.1


class SlowRecording:
    """A real store whose recording of outcomes takes longer, as a database whose
    tables hold a huge backlog makes it; it notes each batch's size."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.batches: list[int] = []

    async def record_attempts(
        self, results: Sequence[AttemptResult], disable_after_ms: int
    ) -> RecordOutcome:
        self.batches.append(len(results))
        await asyncio.sleep(RECORD_DELAY_SECONDS)
        return await self._store.record_attempts(results, disable_after_ms)

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
        message = Message(id=ids.new_id(ids.MESSAGE), app_key=app.key, event_type="a",
                          payload=b"{}", created_at=now_ms())  # fmt: skip
        await store.create_message(app, message, select_endpoints, None)


async def _deliver_all(database: Path, receiver: Receiver) -> list[int]:
    store = open_store(f"sqlite:///{database}")
    await store.open()
    try:
        await _queue_messages(store, receiver.url())
        slow = SlowRecording(store)
        loopback = AddressPolicy(allow_loopback=True)
        options = WorkerOptions(retry_schedule=[0, 5], request_timeout=5,
                                concurrency=CONCURRENCY, policy=loopback)  # fmt: skip
        worker = Worker(slow, options)  # type: ignore[arg-type]
        stopping = asyncio.Event()
        running = asyncio.create_task(worker.run(stopping))
        await asyncio.to_thread(receiver.wait_for, MESSAGES)
        stopping.set()
        await running
        return slow.batches
    finally:
        await store.close()


def test_unrecorded_outcomes_stay_bounded_while_recording_lags(tmp_path: Path) -> None:
    with Receiver() as receiver:
        batches = asyncio.run(_deliver_all(tmp_path / "lagging.db", receiver))
    assert sum(batches) == MESSAGES  # every outcome was recorded, once
    # At most the allowance plus those in flight; without the bound a batch holds
    # whatever was delivered during the previous 100 ms write (here, nearly all).
    assert max(batches) <= (UNRECORDED_ALLOWANCE + 1) * CONCURRENCY < MESSAGES / 2
