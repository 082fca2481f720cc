"""No byte a server wrote for one request is ever recorded for another, even
when the server sends interim responses, stray bytes and early closes; and no
attempt of one application ever records what the server wrote for another."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from svix.api import ApplicationIn, EndpointIn

from tests.conftest import sdk
from tests.harness import ServerProcess
from tests.integration.client.echo import EchoServer, echo_of, echo_server
from tests.integration.client.support import DEADLINE, delivery, in_thread, loopback_client
from tests.waiting import eventually
from tidings.delivery import request
from tidings.domain.outcomes import Outcome

POSTS = 5000
PER_APP = 2500
IN_FLIGHT = 32


def test_every_response_is_credited_to_its_own_request() -> None:
    """Thousands of posts over shared kept-alive connections (one partition, so
    only the exchange reading keeps them apart). Late stray bytes are left out:
    arriving while the next request is already on its way, they cannot be told
    from its answer by any HTTP/1.1 client, which is why connections are also
    kept apart per application (the next test)."""

    async def scenario() -> tuple[list[tuple[int, Outcome]], EchoServer]:
        numbers = iter(range(POSTS))
        results: list[tuple[int, Outcome]] = []
        async with echo_server() as server:
            client = loopback_client()

            async def poster() -> None:
                for number in numbers:
                    if number % 9 == 4:  # "stray-later": racing reuse by design; tested apart
                        continue
                    payload = json.dumps({"app": "only", "n": number}).encode()
                    claimed = delivery(server.port, payload=payload)
                    results.append((number, await request.send(client, claimed, DEADLINE)))

            try:
                await asyncio.gather(*(poster() for _ in range(IN_FLIGHT)))
            finally:
                client.close()
        return results, server

    results, _ = asyncio.run(scenario())
    assert len(results) > 4000
    for number, outcome in results:
        if outcome.succeeded:
            assert outcome.response == echo_of("only", number).decode()
        else:  # a misbehaviour of this very request: never another's answer
            assert outcome.response in ("", echo_of("only", number).decode()), outcome
            assert outcome.error is not None
    failures = [outcome.error for _, outcome in results if not outcome.succeeded]
    assert failures and all(
        "more bytes after the end" in error or "without answering" in error
        for error in failures
        if error
    )


def _attempts(server: ServerProcess, app: str, endpoint: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    iterator = ""
    while True:
        page = server.get_json(
            f"/api/v1/app/{app}/attempt/endpoint/{endpoint}?limit=250"
            + (f"&iterator={iterator}" if iterator else "")
        )
        found += page["data"]
        if page["done"]:
            return found
        iterator = page["iterator"]


def _all_recorded(server: ServerProcess, app: str, endpoint: str) -> list[dict[str, Any]]:
    """The endpoint's attempts, once every message has a successful one."""
    return eventually(
        lambda: _attempts(server, app, endpoint),
        lambda found: len({a["msgId"] for a in found if a["status"] == 0}) == PER_APP,
        timeout=60,
    )


async def _send_all(server: ServerProcess, apps: dict[str, str]) -> dict[str, int]:
    """Create the messages; msg id -> the number in its payload."""
    numbers: dict[str, int] = {}
    work = iter([(name, n) for n in range(PER_APP) for name in apps])
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def sender() -> None:
            for name, number in work:
                body = {"eventType": "tick", "payload": {"app": name, "n": number}}
                url = f"{server.url}/api/v1/app/{apps[name]}/msg"
                async with session.post(url, json=body) as response:
                    assert response.status == 202, await response.text()
                    numbers[(await response.json())["id"]] = number

        await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
    return numbers


def test_no_attempt_records_another_applications_bytes(tmp_path: Path) -> None:
    with in_thread(echo_server) as echo:
        # Retries enough that every message gets through the misbehaviours.
        server = ServerProcess(tmp_path, retry_schedule="0" + ",0.1" * 10).start()
        client = sdk(server)
        apps, endpoints = {}, {}
        for name in ("alpha", "beta"):
            apps[name] = client.application.create(ApplicationIn(name=name)).id
            url = f"http://127.0.0.1:{echo.port}/{name}"
            endpoints[name] = client.endpoint.create(apps[name], EndpointIn(url=url)).id
        client._httpx_client.close()
        numbers = asyncio.run(_send_all(server, apps))
        assert len(numbers) == POSTS

        for name, other in (("alpha", "beta"), ("beta", "alpha")):
            attempts = _all_recorded(server, apps[name], endpoints[name])
            assert len(attempts) >= PER_APP
            for attempt in attempts:
                assert f"app={other}" not in attempt["response"], attempt
                mentioned = re.findall(r"app=(\w+)", attempt["response"])
                assert set(mentioned) <= {name}
            delivered = {a["msgId"] for a in attempts if a["status"] == 0}
            assert len(delivered) == PER_APP and delivered <= set(numbers)
            # Within one application, a server that writes after its answer can
            # desynchronise a kept-alive connection (no HTTP/1.1 client can tell
            # late bytes from the next answer); across applications, never.
        server.stop()
