"""A message is fanned out according to the endpoints committed when it is created,
even though each store keeps an application's endpoints between messages.

Two stores on one database stand for two processes: `sender` creates messages (and
so keeps endpoints), `changer` changes the endpoints as another API process or a
worker would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import BACKENDS, database_url
from tests.contract.test_store import make_app, make_endpoint, result, send
from tests.keys import TEST_KEYS
from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict
from tidings.domain.models import Message
from tidings.storage import Store, open_store
from tidings.storage.ports import ApplicationChanged

Run = Callable[[Awaitable[Any]], Any]


@pytest.fixture(params=BACKENDS)
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, run: Run
) -> Iterator[tuple[Store, Store]]:
    url = database_url(request, tmp_path)
    sender, changer = open_store(url, keys=TEST_KEYS), open_store(url, keys=TEST_KEYS)
    run(sender.open())
    run(changer.open())
    yield sender, changer
    run(sender.close())
    run(changer.close())


def fanned_out(run: Run, store: Store, app: Any, **fields: Any) -> int:
    deliveries: int = send(run, store, app, **fields).deliveries
    return deliveries


def test_messages_follow_endpoint_changes_committed_elsewhere(
    run: Run, stores: tuple[Store, Store]
) -> None:
    sender, changer = stores
    app = make_app(run, changer)
    assert fanned_out(run, sender, app) == 0  # the sender now keeps "no endpoints"
    endpoint = make_endpoint(run, changer, app)
    assert fanned_out(run, sender, app) == 1  # created
    endpoint.filter_types = ["b"]
    run(changer.update_endpoint(endpoint))
    assert fanned_out(run, sender, app, event_type="a") == 0  # updated
    assert fanned_out(run, sender, app, event_type="b") == 1
    endpoint.disabled = True
    run(changer.update_endpoint(endpoint))
    assert fanned_out(run, sender, app, event_type="b") == 0  # disabled
    endpoint.disabled = False
    run(changer.update_endpoint(endpoint))
    assert fanned_out(run, sender, app, event_type="b") == 1  # enabled again
    run(changer.delete_endpoint(endpoint))
    assert fanned_out(run, sender, app, event_type="b") == 0  # deleted


def test_messages_follow_an_endpoint_disabled_by_a_worker(
    run: Run, stores: tuple[Store, Store]
) -> None:
    sender, worker = stores
    app = make_app(run, worker)
    make_endpoint(run, worker, app)
    assert fanned_out(run, sender, app) == 1
    claimed = run(worker.claim_due(10, 60_000))
    # disable_after 0: the first failure disables the endpoint.
    outcome = run(worker.record_attempts([result(claimed[0], ok=False, retry_at=now_ms())], 0))
    assert len(outcome.disabled) == 1
    assert fanned_out(run, sender, app) == 0


def test_a_deleted_or_renamed_application_is_not_written_to(
    run: Run, stores: tuple[Store, Store]
) -> None:
    sender, changer = stores
    renamed, deleted = make_app(run, changer, uid="old"), make_app(run, changer)
    make_endpoint(run, changer, renamed)
    assert fanned_out(run, sender, renamed) == 1
    fresh = run(changer.get_application(renamed.id))
    fresh.uid = "new"
    run(changer.update_application(fresh))
    with pytest.raises(ApplicationChanged):
        send(run, sender, renamed)  # read before the rename
    assert fanned_out(run, sender, fresh) == 1
    run(changer.delete_application(deleted))
    with pytest.raises(ApplicationChanged):
        send(run, sender, deleted)


def test_one_failing_message_does_not_undo_the_others_of_its_commit(
    run: Run, stores: tuple[Store, Store]
) -> None:
    store, _ = stores
    app = make_app(run, store)
    make_endpoint(run, store, app)
    send(run, store, app, event_id="taken")

    def message(event_id: str) -> Message:
        return Message(
            id=ids.new_id(ids.MESSAGE),
            app_key=app.key,
            event_type="a",
            event_id=event_id,
            payload=b"{}",
            created_at=now_ms(),
        )

    async def together() -> list[Any]:
        names = ["first", "taken", "third"]
        creating = [store.create_message(app, message(n), None) for n in names]
        return await asyncio.gather(*creating, return_exceptions=True)

    first, taken, third = run(together())
    assert isinstance(taken, Conflict)
    assert first.deliveries == third.deliveries == 1
    assert len(run(store.claim_due(10, 60_000))) == 3
