"""Endpoints that hang, trickle, bomb, redirect, say 410 or 429, or point inside."""

from __future__ import annotations

import asyncio
import functools
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from svix.api import (
    ApplicationIn,
    EndpointIn,
    EndpointPatch,
    MessageAttemptOut,
    MessageIn,
    Svix,
)

from tests.conftest import sdk
from tests.harness import ServerProcess
from tests.waiting import eventually
from tidings.testing import Receiver

RESPONSE_CAP = 64 * 1024


@pytest.fixture
def fast(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose attempts have a one-second deadline and one retry."""
    server = ServerProcess(tmp_path, request_timeout="1", retry_schedule="0,0.3").start()
    yield server
    server.stop()


@pytest.fixture
def fast_deadline(fast: ServerProcess) -> Iterator[Svix]:
    client = sdk(fast)
    yield client
    client._httpx_client.close()


def _send_to(client: Svix, url: str) -> tuple[str, str, str]:
    app = client.application.create(ApplicationIn(name="Hostile")).id
    endpoint = client.endpoint.create(app, EndpointIn(url=url)).id
    msg = client.message.create(app, MessageIn(event_type="a", payload={"k": 1})).id
    return app, endpoint, msg


def _attempts(client: Svix, app: str, msg: str, count: int = 1) -> list[MessageAttemptOut]:
    found = eventually(
        lambda: client.message_attempt.list_by_msg(app, msg).data, lambda a: len(a) >= count
    )
    assert len(found) >= count, f"only {len(found)} attempts recorded"
    return found


def _errors(server: ServerProcess, app: str, msg: str) -> list[str]:
    """The `error` field of each attempt, which the SDK's model does not keep."""
    listed = server.get_json(f"/api/v1/app/{app}/attempt/msg/{msg}")
    return [attempt["error"] or "" for attempt in listed["data"]]


async def _trickle(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=200)
    await response.prepare(request)
    try:
        for _ in range(60):
            await response.write(b"x")
            await asyncio.sleep(1)
    except ConnectionResetError:
        pass  # the sender gave up, as it should
    return response


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=1)  # 64 MiB inflated


async def _gzip_bomb(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_bomb(), headers={"Content-Encoding": "gzip"}, status=500)


async def _endless(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=500)
    await response.prepare(request)
    chunk = b"y" * 65536
    try:
        for _ in range(16384):  # up to 1 GiB, unless the client hangs up first
            await response.write(chunk)
    except (ConnectionResetError, RuntimeError):
        pass
    return response


def test_trickling_server_is_cut_off_at_the_deadline(
    fast: ServerProcess, fast_deadline: Svix, receiver: Receiver
) -> None:
    receiver.handle("/trickle", _trickle)
    app, _, msg = _send_to(fast_deadline, receiver.url("/trickle"))
    first = _attempts(fast_deadline, app, msg)[-1]
    assert first.response_status_code == 0
    assert "deadline" in first.response
    assert "deadline" in _errors(fast, app, msg)[-1]


def test_gzip_bomb_is_read_only_up_to_the_cap(fast_deadline: Svix, receiver: Receiver) -> None:
    assert len(_bomb()) < RESPONSE_CAP * 8  # small on the wire
    receiver.handle("/bomb", _gzip_bomb)
    app, _, msg = _send_to(fast_deadline, receiver.url("/bomb"))
    attempt = _attempts(fast_deadline, app, msg)[-1]
    assert attempt.response_status_code == 500
    assert len(attempt.response) <= RESPONSE_CAP
    assert set(attempt.response) == {"\0"}


def test_endless_body_is_read_only_up_to_the_cap(fast_deadline: Svix, receiver: Receiver) -> None:
    receiver.handle("/endless", _endless)
    app, _, msg = _send_to(fast_deadline, receiver.url("/endless"))
    attempt = _attempts(fast_deadline, app, msg)[-1]
    assert attempt.response_status_code == 500
    assert len(attempt.response) == RESPONSE_CAP


def test_redirect_is_a_failure_and_is_not_followed(
    server: ServerProcess, client: Svix, receiver: Receiver
) -> None:
    target = receiver.url("/target")
    receiver.respond("/moved", then=302, headers={"Location": target})
    app, _, msg = _send_to(client, receiver.url("/moved"))
    attempts = _attempts(client, app, msg, count=3)
    assert {a.response_status_code for a in attempts} == {302}
    assert all(target in error for error in _errors(server, app, msg))
    assert receiver.received("/target") == []


def test_410_disables_the_endpoint_and_keeps_its_messages(client: Svix, receiver: Receiver) -> None:
    receiver.respond("/gone", [410], then=200)
    app, endpoint, msg = _send_to(client, receiver.url("/gone"))
    eventually(lambda: client.endpoint.get(app, endpoint).disabled, bool)
    assert client.endpoint.get(app, endpoint).disabled
    later = client.message.create(app, MessageIn(event_type="a", payload={"k": 2})).id
    assert len(_attempts(client, app, msg)) == 1  # no retry against a 410

    client.endpoint.patch(app, endpoint, EndpointPatch(disabled=False))
    arrived = receiver.wait_for(2, "/gone")
    # The kept delivery resumes; a message sent while disabled was never queued
    # for this endpoint (replay_missing exists for that), exactly as in Svix.
    assert [r.headers["webhook-id"] for r in arrived] == [msg, msg]
    assert later not in {r.headers["webhook-id"] for r in receiver.received()}


@pytest.mark.parametrize(("retry_after", "least"), [("0", 1.0), ("5", 2.0)])
def test_429_retry_waits_at_least_the_minimum_backoff(
    client: Svix, receiver: Receiver, retry_after: str, least: float
) -> None:
    path = f"/busy-{retry_after}"
    receiver.respond(path, [429], then=200, headers={"Retry-After": retry_after})
    _send_to(client, receiver.url(path))
    first, second = receiver.wait_for(2, path)
    # The schedule says 0.2 s; a receiver asking us to slow down gets at least 1 s, and
    # its Retry-After is honoured up to twice that.
    assert second.at - first.at >= least


def test_endpoint_failing_for_the_disable_period_is_disabled(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.respond("/dead", then=500)
    server = ServerProcess(tmp_path, disable_after="1", retry_schedule="0,0.6,0.6,0.6").start()
    client = sdk(server)
    try:
        app, endpoint, _ = _send_to(client, receiver.url("/dead"))
        assert eventually(lambda: client.endpoint.get(app, endpoint).disabled, bool)
    finally:
        client._httpx_client.close()
        server.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.1"])
def test_ssrf_guard_blocks_internal_destinations(
    tmp_path: Path, receiver: Receiver, host: str
) -> None:
    server = ServerProcess(tmp_path, dev="false").start()
    client = sdk(server)
    try:
        url = f"http://{host}:{receiver.port}/internal"
        app, _, msg = _send_to(client, url)
        attempt = _attempts(client, app, msg)[-1]
        assert attempt.response_status_code == 0
        assert "blocked" in attempt.response or "not a canonical" in attempt.response
        assert receiver.received() == []
    finally:
        client._httpx_client.close()
        server.stop()


def test_allowed_subnets_open_a_private_range(tmp_path: Path, receiver: Receiver) -> None:
    server = ServerProcess(tmp_path, dev="false", allowed_subnets="127.0.0.0/8").start()
    client = sdk(server)
    try:
        _send_to(client, receiver.url("/allowed"))
        receiver.wait_for(1, "/allowed")
    finally:
        client._httpx_client.close()
        server.stop()


async def _brotli(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"\x1b\x03\x00\xf8", headers={"Content-Encoding": "br"})


def test_a_body_in_an_encoding_not_asked_for_is_kept_with_a_note(
    server: ServerProcess, client: Svix, receiver: Receiver
) -> None:
    receiver.handle("/br", _brotli)
    app, _, msg = _send_to(client, receiver.url("/br"))
    (attempt,) = _attempts(client, app, msg)
    assert attempt.response_status_code == 200
    listed = server.get_json(f"/api/v1/app/{app}/attempt/msg/{msg}")["data"][0]
    # The bytes received, as text (PostgreSQL text holds no NUL: it reads as U+FFFD).
    assert listed["response"] in ("\x1b\x03\x00\ufffd", "\x1b\x03\ufffd\ufffd")
    assert "not asked for (br)" in listed["note"]
