"""A misbehaving echo receiver: it answers each webhook with the application and
number found in its payload, and on purpose sends interim responses, stray bytes
(in the same write and later), early closes and compressed bodies, so that any
byte credited to the wrong request shows up as another request's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator

from tests.integration.client.hostile import read_request

# Misbehaviours, chosen by a request's number; those marked once only misbehave
# the first time a number is seen, so that a retry can end cleanly.
KINDS = (
    "plain",
    "interim",
    "interim-apart",
    "stray",
    "stray-later",
    "chunked-stray",
    "close-unanswered",
    "connection-close",
    "gzip",
)
ONCE = frozenset({"stray", "chunked-stray", "close-unanswered"})


def echo_of(app: str, number: int) -> bytes:
    return b"app=%s n=%d" % (app.encode(), number)


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


class EchoServer:
    def __init__(self) -> None:
        self.port = 0
        self.seen: Counter[tuple[str, int]] = Counter()
        # (application, number) of every answer that ended cleanly.
        self.clean: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """End every connection, and wait for their handlers."""
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.gather(*self._handlers)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while (request := await read_request(reader, 0)) is not None:
                payload = json.loads(request.body)
                if not await self._answer(payload["app"], payload["n"], writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
            self._handlers.discard(task)

    async def _answer(self, app: str, number: int, writer: asyncio.StreamWriter) -> bool:
        with self._lock:
            self.seen[(app, number)] += 1
            first = self.seen[(app, number)] == 1
        kind = KINDS[number % len(KINDS)]
        if kind in ONCE and not first:
            kind = "plain"
        echo, leak = echo_of(app, number), b"LEAK " + echo_of(app, number)
        keep_open = True
        if kind == "plain":
            writer.write(ok(echo))
        elif kind == "interim":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(echo))
        elif kind == "interim-apart":
            writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.002)
            writer.write(ok(echo))
        elif kind == "stray":
            writer.write(ok(echo) + ok(leak))
            keep_open = False
        elif kind == "stray-later":
            writer.write(ok(echo))
            await writer.drain()
            await asyncio.sleep(0.002)
            writer.write(ok(leak))
        elif kind == "chunked-stray":
            chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(echo), echo)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked + leak)
            keep_open = False
        elif kind == "close-unanswered":
            return False
        elif kind == "connection-close":
            writer.write(ok(echo, b"connection: close\r\n"))
            keep_open = False
        else:
            writer.write(ok(gzip.compress(echo), b"content-encoding: gzip\r\n"))
        await writer.drain()
        if kind not in ONCE:
            with self._lock:
                self.clean.add((app, number))
        return keep_open


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[EchoServer]:
    server = EchoServer()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
        await server.close()
