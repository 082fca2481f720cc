"""Limits on what one HTTP client may take of an API process.

The API and the ingest URLs face the internet, and a client that opens
connections and sends nothing, or trickles its headers or body a byte at a time,
would otherwise hold a connection (and memory) for as long as it likes. uvicorn's
httptools protocol has a keep-alive timeout and nothing else, so this subclass
adds, per connection:

- a deadline for each request's head, from its first byte (or from the
  connection's opening): 408 and closed when it passes;
- a deadline for the body, from the end of the head;
- a cap on the head's size and on its number of headers, counted as the bytes
  arrive, whatever reads they come in: 431 and closed above it;
- a cap on open connections: beyond it, a new one is closed at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 256
_END_OF_HEAD = b"\r\n\r\n"
# How long a refused connection is drained before it is closed.
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class Limits:
    head_seconds: float = 10.0
    body_seconds: float = 30.0
    max_connections: int = 10_000


def guarded_protocol(limits: Limits) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn builds per connection, with `limits` applied."""

    class Guarded(GuardedProtocol):
        pass

    Guarded.limits = limits
    return Guarded


class GuardedProtocol(HttpToolsProtocol):
    limits = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._headers = 0
        self._carry = b""
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            transport.abort()  # over the cap: no room, and no word either
            return
        self._arm(self.limits.head_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped until the close, so the refusal is not lost to a reset
        if self._in_head and not self._count_head(data):
            self._refuse(b"431 Request Header Fields Too Large", "request headers too large")
            return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.limits.head_seconds)  # from the request's first byte

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._headers += 1
        if self._headers > MAX_HEADERS:
            self._refuse(b"431 Request Header Fields Too Large", "too many request headers")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return  # never handed to the application
        self._in_head, self._carry = False, b""
        self._arm(self.limits.body_seconds)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()  # answering is the application's business, not the client's
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # What comes next is another request's head.
        self._in_head, self._head_bytes, self._headers = True, 0, 0

    def _count_head(self, data: bytes) -> bool:
        """Count the bytes of the head in `data` (up to its end, when it ends
        here); False once over the cap."""
        joined = self._carry + data[:3]
        at = joined.find(_END_OF_HEAD)
        if at >= 0:
            counted = at + len(_END_OF_HEAD) - len(self._carry)
        else:
            at = data.find(_END_OF_HEAD)
            counted = len(data) if at < 0 else at + len(_END_OF_HEAD)
        self._carry = (self._carry + data)[-3:]
        self._head_bytes += counted
        return self._head_bytes <= MAX_HEAD_BYTES

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_head and self._head_bytes == 0:
            self.transport.close()  # never said a word: just hang up
        elif self.cycle is None or not self.cycle.response_started:
            self._refuse(b"408 Request Timeout", "request not received in time")
        else:
            self.transport.close()

    def _refuse(self, status: bytes, why: str) -> None:
        """Answer `status` and end the connection. Closing a socket with unread input
        makes the kernel send a reset, which can destroy the answer before the
        client reads it: so the answer is followed by an end of stream, what the
        client still sends is read and dropped, and the close comes a moment later."""
        self._disarm()
        self._refused = True
        body = why.encode()
        self.transport.write(
            b"HTTP/1.1 %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, len(body), body)
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
        if self.cycle is not None:
            self.cycle.disconnected = True
