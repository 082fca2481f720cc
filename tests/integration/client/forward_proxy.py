"""A small real forward proxy, as companies run for egress: CONNECT tunnels and
absolute-form HTTP requests, optional Basic credentials, optional TLS on its own
listener. It records every destination it was asked for."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class ForwardProxy:
    credentials: tuple[str, str] | None = None
    port: int = 0
    # "CONNECT 127.0.0.1:4443" or "POST http://127.0.0.1:8080/hook", as asked.
    asked: list[str] = field(default_factory=list)
    connections: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if not self._authorized(head):
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n"
                )
                await writer.drain()
                return
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            self.asked.append(f"{method} {target}")
            if method == "CONNECT":
                await self._tunnel(target, reader, writer)
            else:
                await self._forward(head, target, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()

    def _authorized(self, head: bytes) -> bool:
        if self.credentials is None:
            return True
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        return f"proxy-authorization: basic {expected}".lower().encode() in head.lower()

    async def _tunnel(
        self, authority: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, _, port = authority.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await self._pipe_both(reader, writer, up_reader, up_writer)

    async def _forward(
        self, head: bytes, url: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        parts = urlsplit(url)
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        answers = asyncio.create_task(_pipe(up_reader, writer))
        try:
            while True:
                up_writer.write(_origin_form(head))
                length = _content_length(head)
                up_writer.write(await reader.readexactly(length))
                await up_writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                self.asked.append(" ".join(head.split(b"\r\n", 1)[0].decode().split(" ")[:2]))
        finally:
            answers.cancel()
            up_writer.transport.abort()

    async def _pipe_both(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.transport.abort()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.transport.abort()


def _origin_form(head: bytes) -> bytes:
    line, rest = head.split(b"\r\n", 1)
    method, url, version = line.split(b" ", 2)
    parts = urlsplit(url.decode())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [h for h in rest.split(b"\r\n") if not h.lower().startswith(b"proxy-authorization:")]
    return b" ".join([method, path.encode(), version]) + b"\r\n" + b"\r\n".join(kept)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@contextlib.asynccontextmanager
async def forward_proxy(
    credentials: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None
) -> AsyncIterator[ForwardProxy]:
    proxy = ForwardProxy(credentials)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        proxy._tasks.add(task)
        try:
            await proxy.handle(reader, writer)
        finally:
            proxy._tasks.discard(task)

    listening = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    proxy.port = listening.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        listening.close()
        for writer in proxy._writers:
            writer.transport.abort()
        await asyncio.gather(*proxy._tasks, return_exceptions=True)
