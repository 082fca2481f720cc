"""A hostile HTTP/1.1 server: it answers the first request it gets with a
scripted series of raw writes, pauses, FINs and resets, and every later request
(on any connection) with a plain marked answer, so that a test can tell whether
the client reused the connection and whether any byte of the first exchange
leaked into the second.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pause:
    seconds: float


class Fin:
    """Half-close: the client sees the end of the stream."""


class Reset:
    """Abort with SO_LINGER 0, so the client gets a TCP reset."""


class Hang:
    """Say nothing more, keeping the connection open until the client leaves."""


Step = bytes | Pause | Fin | Reset | Hang
FIN, RESET, HANG = Fin(), Reset(), Hang()

SECOND_BODY = b"second answer"
SECOND = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(SECOND_BODY), SECOND_BODY)


@dataclass
class Seen:
    """One request as the server read it."""

    connection: int
    head: bytes
    body: bytes


@dataclass
class HostileServer:
    script: Sequence[Step]
    # Scripts for later requests, by their number (1 is the first); others get SECOND.
    later: dict[int, Sequence[Step]] = field(default_factory=dict)
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    # Set at the end of the test: steps that wait for the client return.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        try:
            while True:
                seen = await read_request(reader, connection)
                if seen is None:
                    return
                self.requests.append(seen)
                number = len(self.requests)
                steps = self.script if number == 1 else self.later.get(number, [SECOND])
                if not await play(steps, writer, self.stopping):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()


async def read_request(reader: asyncio.StreamReader, connection: int) -> Seen | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return Seen(connection, head, await reader.readexactly(length))


async def play(
    steps: Sequence[Step], writer: asyncio.StreamWriter, stopping: asyncio.Event
) -> bool:
    """Perform `steps`; False once the connection is finished with."""
    for step in steps:
        if isinstance(step, bytes):
            writer.write(step)
            await writer.drain()
        elif isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, Fin):
            writer.write_eof()
            await stopping.wait()  # the client closes its side; the test ends it
        elif isinstance(step, Reset):
            reset(writer)
            return False
        else:
            await stopping.wait()
            return False
    return True


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextlib.asynccontextmanager
async def hostile(
    script: Sequence[Step],
    later: dict[int, Sequence[Step]] | None = None,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[HostileServer]:
    server = HostileServer(script, later or {})
    handlers: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.append(writer)
        try:
            await server.handle(reader, writer)
        finally:
            handlers.discard(task)

    listening = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
        server.stopping.set()
        for writer in writers:
            writer.transport.abort()  # a handler reading a request sees the end
        await asyncio.gather(*handlers)
        await listening.wait_closed()
