"""Clients that trickle, stall, flood headers or hold idle connections are cut off,
and a normal request is still served meanwhile."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import ServerProcess

HEAD_SECONDS, BODY_SECONDS = 1.0, 2.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path, header_timeout=str(HEAD_SECONDS), body_timeout=str(BODY_SECONDS)
    ).start()
    yield process
    process.stop()


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


def healthy(server: ServerProcess) -> bool:
    return httpx.get(server.url + "/api/v1/health", timeout=5).status_code == 204


def test_headers_that_never_end_get_408_and_the_connection_closed(server: ServerProcess) -> None:
    sock = connect(server)
    sock.sendall(b"POST /api/v1/app HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert healthy(server)  # others are served while it stalls
    started = time.monotonic()
    assert answer(sock).startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 10 * HEAD_SECONDS  # cut off, not left hanging


def test_a_body_that_stalls_gets_408(server: ServerProcess) -> None:
    sock = connect(server)
    sock.sendall(
        b"POST /api/v1/app HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + server.token.encode()
        + b"\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"name": '
    )
    assert healthy(server)
    assert answer(sock).startswith(b"HTTP/1.1 408 ")
    assert server.get_json("/api/v1/app")["data"] == []  # nothing half-made


@pytest.mark.parametrize(
    "head",
    [
        b"".join(b"X-%d: v\r\n" % n for n in range(20_000)),  # 20,000 headers
        b"".join(b"X-%d: v\r\n" % n for n in range(300)),  # over the count, in one read
        b"X-Big: " + b"a" * 70_000 + b"\r\n",  # one header over the cap
    ],
    ids=["many", "many-in-one-read", "huge"],
)
def test_oversized_headers_get_431(server: ServerProcess, head: bytes) -> None:
    sock = connect(server)
    request = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n"
    for start in range(0, len(request), 4096):  # in many reads, as a slow client sends
        try:
            sock.sendall(request[start : start + 4096])
        except (BrokenPipeError, ConnectionResetError):
            break  # refused before the end: what we want
    assert answer(sock).startswith(b"HTTP/1.1 431 ")
    assert healthy(server)


def test_idle_connections_are_closed_and_others_still_served(server: ServerProcess) -> None:
    idle = [connect(server) for _ in range(500)]
    assert healthy(server)  # served while 500 connections sit silent
    time.sleep(HEAD_SECONDS)
    closed = 0
    for sock in idle:
        sock.settimeout(10)
        if answer(sock) == b"":  # hung up without a word
            closed += 1
    assert closed == 500
    assert healthy(server)
