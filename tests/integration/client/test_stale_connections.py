"""Kept-alive connections the server closed: found before use when the close
has arrived, and when it crosses the request, sent again once and said so."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tests.integration.client.cases import INTERIM, ok
from tests.integration.client.hostile import FIN, RESET, SECOND_BODY, HostileServer, Pause, Step
from tests.integration.client.hostile import hostile as hostile_server
from tests.integration.client.support import DEADLINE, delivery, loopback_client
from tidings.delivery import request
from tidings.domain.outcomes import Outcome


async def two_deliveries(
    first: Sequence[Step], later: dict[int, Sequence[Step]], pause: float = 0.0
) -> tuple[Outcome, Outcome, HostileServer]:
    async with hostile_server(first, later) as server:
        client = loopback_client()
        try:
            one = await request.send(client, delivery(server.port), DEADLINE)
            await asyncio.sleep(pause)
            two = await request.send(client, delivery(server.port), DEADLINE)
        finally:
            client.close()
    return one, two, server


def webhook_ids(server: HostileServer) -> list[str]:
    ids = []
    for seen in server.requests:
        for line in seen.head.split(b"\r\n"):
            if line.lower().startswith(b"webhook-id:"):
                ids.append(line.split(b":", 1)[1].strip().decode())
    return ids


def test_a_connection_closed_while_idle_is_noticed_before_it_is_used() -> None:
    one, two, server = asyncio.run(two_deliveries([ok(), Pause(0.05), FIN], {}, pause=0.3))
    assert one.succeeded and two.succeeded
    assert two.response == SECOND_BODY.decode() and two.note is None
    assert [seen.connection for seen in server.requests] == [1, 2]  # sent once, on a new one


@pytest.mark.parametrize("close", [FIN, RESET], ids=["fin", "reset"])
def test_a_close_that_crosses_the_request_sends_it_again_and_says_so(close: Step) -> None:
    one, two, server = asyncio.run(two_deliveries([ok()], {2: [close]}))
    assert one.succeeded and one.note is None
    assert (two.succeeded, two.response) == (True, SECOND_BODY.decode())
    assert two.note is not None and two.note.startswith("sent twice")
    # The server read the request on the old connection, then again on a new one,
    # with the same webhook-id so that the receiver can deduplicate.
    assert [seen.connection for seen in server.requests] == [1, 1, 2]
    assert webhook_ids(server)[1] == webhook_ids(server)[2]


def test_a_new_connection_that_closes_unanswered_is_not_retried() -> None:
    one, _, server = asyncio.run(two_deliveries([FIN], {}))
    assert (one.succeeded, one.status_code, one.note) == (False, 0, None)
    assert one.error == "the endpoint closed the connection without answering"
    assert [seen.connection for seen in server.requests][:1] == [1]
    assert server.requests[1].connection == 2  # the second delivery's, not a resend


def test_a_resend_that_fails_too_is_a_failure_that_says_it_was_sent_twice() -> None:
    _, two, server = asyncio.run(two_deliveries([ok()], {2: [FIN], 3: [RESET]}))
    assert (two.succeeded, two.status_code) == (False, 0)
    assert two.error == "the endpoint reset the connection without answering"
    assert two.note is not None and two.note.startswith("sent twice")
    assert [seen.connection for seen in server.requests] == [1, 1, 2]


def test_a_reused_connection_that_answered_anything_is_not_sent_again() -> None:
    _, two, server = asyncio.run(two_deliveries([ok()], {2: [INTERIM, Pause(0.05), FIN]}))
    assert (two.succeeded, two.note) == (False, None)
    assert two.error is not None and "middle of the response head" in two.error
    assert len(server.requests) == 2
