"""What the delivery-client tests share: a claimed delivery to any URL, a client
that may reach loopback, and async servers run in a thread for tests that run
Tidings as a separate process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from tidings.delivery.egress import Egress
from tidings.delivery.guard import AddressPolicy, GuardedResolver
from tidings.delivery.http1 import Http1Client
from tidings.domain.models import ClaimedDelivery, TriggerType

T = TypeVar("T")
DEADLINE = 1.0
LOOPBACK = AddressPolicy(allow_loopback=True)


def delivery(
    port_or_url: int | str, app_key: int = 1, payload: bytes = b'{"n": 1}'
) -> ClaimedDelivery:
    url = port_or_url if isinstance(port_or_url, str) else f"http://127.0.0.1:{port_or_url}/hook"
    return ClaimedDelivery(
        delivery_key=1,
        claim_id=1,
        attempts_made=0,
        trigger_type=TriggerType.SCHEDULED,
        msg_id="msg_1",
        msg_key=1,
        app_key=app_key,
        endpoint_id="ep_1",
        endpoint_key=1,
        url=url,
        payload=payload,
        secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        headers={},
    )


def loopback_client(egress: Egress | None = None, policy: AddressPolicy = LOOPBACK) -> Http1Client:
    egress = egress or Egress()
    return Http1Client(GuardedResolver(policy), egress.tls_context(), egress.proxy())


@contextlib.contextmanager
def in_thread(serving: Callable[[], AbstractAsyncContextManager[T]]) -> Iterator[T]:
    """Enter `serving()` on an event loop of its own in a thread; yield what it gives."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    given: list[T] = []
    stop = asyncio.Event()

    async def main() -> None:
        async with serving() as value:
            given.append(value)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the server in the thread did not start")
    try:
        yield given[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
