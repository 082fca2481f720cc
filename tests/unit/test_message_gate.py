"""The per-application admission for message creation, and its in-process idempotency guard."""

from __future__ import annotations

import asyncio

import pytest

from tidings.api.message_gate import MessageGate
from tidings.domain.errors import Conflict


def test_a_key_in_flight_is_refused_until_its_request_ends() -> None:
    async def scenario() -> None:
        gate = MessageGate()
        async with gate.admit(1, "k"):
            with pytest.raises(
                Conflict, match=r"^the idempotency-key is in use by a request still in progress$"
            ):
                async with gate.admit(1, "k"):
                    pass
            # Another key, or the same key of another application, goes ahead.
            async with gate.admit(1, "other"), gate.admit(2, "k"), gate.admit(1):
                pass
        async with gate.admit(1, "k"):  # released when the first request ended
            pass

    asyncio.run(scenario())


def test_a_key_is_released_when_its_request_fails() -> None:
    async def scenario() -> None:
        gate = MessageGate()
        with pytest.raises(RuntimeError):
            async with gate.admit(1, "k"):
                raise RuntimeError("the store refused it")
        async with gate.admit(1, "k"):
            pass

    asyncio.run(scenario())


def test_an_application_holds_at_most_its_share_of_places() -> None:
    async def scenario() -> tuple[int, int]:
        gate = MessageGate(per_application=2)
        inside = most = 0
        release = asyncio.Event()

        async def request(app_key: int) -> None:
            nonlocal inside, most
            async with gate.admit(app_key):
                inside += 1
                most = max(most, inside)
                await release.wait()
                inside -= 1

        tasks = [asyncio.create_task(request(1)) for _ in range(5)]
        for _ in range(20):  # give every task its chance to get in
            await asyncio.sleep(0)
        # Another application is not held up by the first one's queue.
        async with gate.admit(2):
            pass
        waiting = inside
        release.set()
        await asyncio.gather(*tasks)
        return most, waiting

    most, waiting = asyncio.run(scenario())
    assert (most, waiting) == (2, 2)


def test_the_gate_forgets_an_application_when_its_last_request_ends() -> None:
    async def scenario() -> list[int]:
        gate = MessageGate()
        held = []
        async with gate.admit(1), gate.admit(1, "k"), gate.admit(2):
            held.append(gate.applications_held)
            async with gate.admit(1):
                held.append(gate.applications_held)
            held.append(gate.applications_held)  # application 1 still has two inside
        held.append(gate.applications_held)
        with pytest.raises(RuntimeError):
            async with gate.admit(3, "k"):
                raise RuntimeError
        held.append(gate.applications_held)
        return held

    assert asyncio.run(scenario()) == [2, 2, 2, 0, 0]


def test_a_request_cancelled_while_waiting_gives_back_its_key_and_its_place() -> None:
    async def scenario() -> None:
        gate = MessageGate(per_application=1)
        release = asyncio.Event()

        async def holder() -> None:
            async with gate.admit(1):
                await release.wait()

        holding = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiting = asyncio.create_task(gate.admit(1, "k").__aenter__())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        await holding
        assert gate.applications_held == 0
        async with gate.admit(1, "k"):  # the cancelled request's key is free again
            pass

    asyncio.run(scenario())
