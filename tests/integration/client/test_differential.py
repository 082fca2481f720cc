"""Each hostile-server case, against Tidings' delivery client and aiohttp's.

For every case the test asserts what Tidings records for the attempt (status,
body, error, note), whether the connection was reused, and that the next request
gets its own answer and not a byte of the first one's. aiohttp, fed the same
bytes, must give the same answer unless the case documents a stricter one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.integration.client.cases import CASES, Case
from tests.integration.client.hostile import SECOND_BODY, HostileServer, hostile
from tests.integration.client.support import DEADLINE, delivery, loopback_client
from tidings.delivery import request


@dataclass(frozen=True)
class Answer:
    """What a client made of the first request: a response, or an error."""

    status: int | None
    body: bytes | None

    @classmethod
    def failed(cls) -> Answer:
        return cls(None, None)


def tidings_answer(outcome: request.Outcome) -> Answer:
    broke = outcome.error is not None and not outcome.error.startswith("the endpoint answered")
    if broke:
        return Answer.failed()
    return Answer(outcome.status_code, outcome.response.encode("utf-8", "surrogateescape"))


async def run_tidings(case: Case) -> tuple[request.Outcome, request.Outcome, HostileServer]:
    async with hostile(case.script) as server:
        client = loopback_client()
        try:
            first = await request.send(client, delivery(server.port), DEADLINE)
            await asyncio.sleep(0.15)  # let late stray bytes arrive while idle
            second = await request.send(client, delivery(server.port), DEADLINE)
        finally:
            client.close()
    return first, second, server


async def run_aiohttp(case: Case) -> tuple[Answer, Answer, HostileServer]:
    async with hostile(case.script) as server:
        url = f"http://127.0.0.1:{server.port}/hook"
        connector = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=DEADLINE)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            first = await aiohttp_post(session, url)
            await asyncio.sleep(0.15)
            second = await aiohttp_post(session, url)
    return first, second, server


async def aiohttp_post(session: aiohttp.ClientSession, url: str) -> Answer:
    try:
        async with session.post(url, data=b"{}", allow_redirects=False) as response:
            return Answer(response.status, await response.read())
    except (aiohttp.ClientError, TimeoutError):
        return Answer.failed()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_tidings_records_exactly_what_the_server_said(case: Case) -> None:
    first, second, server = asyncio.run(run_tidings(case))
    assert (first.status_code, first.succeeded) == (case.status, case.succeeded)
    if case.error is None:
        assert first.error is None
    else:
        assert first.error is not None and case.error in first.error
    if case.note is None:
        assert first.note is None
    else:
        assert first.note is not None and case.note in first.note
    assert first.response.encode("utf-8", "surrogateescape") == case.body or (
        first.response == case.body.decode("utf-8", "replace")
    )
    # The next request gets its own answer, on the same connection only when the
    # first exchange ended exactly.
    assert (second.succeeded, second.response) == (True, SECOND_BODY.decode())
    assert [seen.connection for seen in server.requests] == [1, 1 if case.reused else 2]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_aiohttp_gives_the_same_answer_unless_documented(case: Case) -> None:
    their_first, their_second, _ = asyncio.run(run_aiohttp(case))
    theirs = (their_first, their_second)
    ours = (tidings_answer(asyncio.run(run_tidings(case))[0]), Answer(200, SECOND_BODY))
    if case.aiohttp is None:
        assert ours == theirs
    else:
        assert ours != theirs, f"aiohttp now agrees; drop the note: {case.aiohttp}"


def test_there_are_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


def test_every_difference_from_aiohttp_is_documented() -> None:
    documented = (Path(__file__).parents[3] / "docs" / "delivery-client.md").read_text()
    for case in CASES:
        if case.aiohttp is not None:
            assert f"`{case.id}`" in documented, case.id
