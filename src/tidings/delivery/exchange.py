"""One keep-alive connection and the exchanges on it: a request written, its
response read exactly, byte for byte.

The rule that matters most: a connection goes back to the pool only when the
exchange ended exactly at the end of the final response. Otherwise a response
(or part of one) left unread would be taken, on the next exchange, as the answer
to another request, perhaps another application's. So:

- interim responses (1xx other than 101) are read and skipped, never final;
- a 101 to a POST ends the attempt and the connection;
- the bytes of each head are counted as they arrive and capped, across reads;
- a body with a Content-Length is fed to the parser only up to that length, so
  any byte beyond it is seen as stray, and stray bytes close the connection;
- a parser error, a short body, or bytes arriving while idle close it too.

httptools (llhttp) parses; this module decides what is fed to it and when.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import cast

import httptools

from tidings.delivery.body import Inflater, Undecodable, decoder_for

MAX_HEADER_BYTES = 64 * 1024
# A server may send a few interim responses (100, 102, 103) before its answer;
# one that sends endless ones is stalling.
MAX_INTERIM_RESPONSES = 16
_END_OF_HEAD = b"\r\n\r\n"
_NO_BODY_STATUSES = frozenset({204, 304})


class ProtocolError(Exception):
    """The server's answer is not usable HTTP (or broke a limit).

    When the final status line had arrived, `status` and the body read so far
    say what the server did get to say.
    """

    def __init__(self, message: str, status: int = 0, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class NoAnswer(ConnectionError):
    """The connection closed after the request was written, before any byte of
    an answer. The server may or may not have read the request."""

    def __init__(self, reset: bool) -> None:
        how = "reset" if reset else "closed"
        super().__init__(f"the endpoint {how} the connection without answering")


@dataclass
class Response:
    status: int
    body: bytes
    location: str | None = None
    retry_after: str | None = None
    # Set when the body was cut at the cap (the rest was never read).
    truncated: bool = False
    # What the client noticed about the body (an encoding it could not decode).
    note: str | None = None


@dataclass(slots=True)
class _Exchange:
    """The response being read for one request."""

    cap: int
    waiter: asyncio.Future[Response]
    started: bool = False  # any byte of an answer arrived
    in_head: bool = True  # reading a head (interim or final), not a body
    head_bytes: int = 0  # of every head of this exchange, interim ones included
    carry: bytes = b""  # the last bytes of an unfinished head, to find its end across reads
    interim: int = 0
    status: int = 0
    # From the headers of the response being read.
    location: str | None = None
    retry_after: str | None = None
    content_encoding: bytes | None = None
    content_length: int | None = None
    transfer_encoded: bool = False
    chunked: bool = False  # chunked is the final transfer coding
    # Body framing and content, once the final head is in.
    remaining: int | None = None  # body bytes still due under a Content-Length
    close_delimited: bool = False
    decoder: Inflater | None = None
    note: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    # The final response ended; anything but empty lines after it is stray.
    complete: bool = False
    stray: bool = False

    def forget_headers(self) -> None:
        """An interim response ended: its headers say nothing about the final one."""
        self.location = self.retry_after = self.content_encoding = None
        self.content_length = None
        self.transfer_encoded = self.chunked = False


class Connection(asyncio.Protocol):
    """At most one exchange at a time; reusable only after one that ended exactly."""

    def __init__(self, key: tuple[object, ...], request_prefix: str = "") -> None:
        self.key = key
        # Written before each request's path: empty for origin-form requests, the
        # vetted origin (http://203.0.113.9:80) for absolute-form ones to a proxy.
        self.request_prefix = request_prefix
        self.proxy_headers: tuple[tuple[str, str], ...] = ()
        # uvloop's transports do not subclass asyncio.Transport, hence the casts.
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self._exchange: _Exchange | None = None
        self._reusable = True

    # asyncio callbacks -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        exchange = self._exchange
        if exchange is None:  # the server spoke out of turn: never reuse this one
            self.abort()
            return
        exchange.started = True
        try:
            self._read(exchange, data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("the endpoint switched protocols"))
        except httptools.HttpParserError as exc:
            if exchange.complete:  # what followed the answer was not even HTTP
                exchange.stray = True
                self._settle(exchange, b"")
            else:
                self._fail(ProtocolError(f"the endpoint's response is not valid HTTP/1.1 ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self._exchange
        if exchange is None or exchange.waiter.done():
            return
        if not exchange.in_head and exchange.close_delimited:
            # A body without a length ends with the connection: the answer stands.
            self._reusable = False
            self._finish(truncated=False)
        elif not exchange.started:
            self._fail(NoAnswer(reset=isinstance(exc, ConnectionResetError)))
        elif exchange.in_head:
            self._fail(ProtocolError("the connection closed in the middle of the response head"))
        else:
            self._fail(ProtocolError(_cut_short(exchange)))

    # feeding the parser ------------------------------------------------------
    def _read(self, exchange: _Exchange, data: bytes) -> None:
        """Feed `data` to the parser in pieces that end where the answer's parts
        do, then settle the exchange if its final response is complete."""
        while data and not exchange.complete:
            if exchange.in_head:
                carry = exchange.carry
                if carry:
                    end = _head_end(carry, data)
                else:  # the usual case, inlined: a head that starts with this read
                    end = data.find(_END_OF_HEAD)
                    end = end + 4 if end >= 0 else -1
                piece, data = (data, b"") if end < 0 else (data[:end], data[end:])
                exchange.head_bytes += len(piece)
                if exchange.head_bytes > MAX_HEADER_BYTES:
                    self._fail(ProtocolError(f"response headers over {MAX_HEADER_BYTES} bytes"))
                    return
                exchange.carry = (exchange.carry + piece)[-3:] if end < 0 else b""
            elif exchange.remaining is not None:
                piece, data = data[: exchange.remaining], data[exchange.remaining :]
                exchange.remaining -= len(piece)
            else:
                piece, data = data, b""
            self._parser.feed_data(piece)
            if self._exchange is not exchange:  # failed, or cut at the cap
                return
        if exchange.complete:
            self._settle(exchange, data)

    def _settle(self, exchange: _Exchange, after: bytes) -> None:
        """The final response is complete; `after` is what came with it beyond its end."""
        if self._exchange is not exchange:
            return
        if exchange.stray or after.strip(b"\r\n"):
            # Something that is not part of this answer, nor empty lines: the answer
            # is in doubt (a wrong Content-Length, a body after a 204), so is this attempt.
            self._fail(ProtocolError("the endpoint sent more bytes after the end of its response"))
            return
        if after:
            self._reusable = False  # empty lines only: the answer stands, the connection goes
        self._finish(truncated=False)

    # parser callbacks --------------------------------------------------------
    def on_message_begin(self) -> None:
        exchange = self._exchange
        if exchange is None:
            self._reusable = False
        elif exchange.complete:  # a message after the final one
            exchange.stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self._exchange
        if exchange is None or exchange.complete:
            return
        lowered = name.lower()
        if lowered == b"location":
            exchange.location = value.decode("latin-1")
        elif lowered == b"retry-after":
            exchange.retry_after = value.decode("latin-1")
        elif lowered == b"content-encoding":
            exchange.content_encoding = value
        elif lowered == b"content-length":
            exchange.content_length = int(value)  # llhttp checked it is one number
        elif lowered == b"transfer-encoding":
            exchange.transfer_encoded = True
            exchange.chunked = value.rpartition(b",")[2].strip().lower() == b"chunked"

    def on_headers_complete(self) -> None:
        exchange = self._exchange
        if exchange is None or exchange.complete:
            return
        status = self._parser.get_status_code()
        if status == 101:
            self._fail(
                ProtocolError("the endpoint switched protocols (101) instead of answering", status)
            )
        elif status < 200:
            exchange.interim += 1
            exchange.forget_headers()
            if exchange.interim > MAX_INTERIM_RESPONSES:
                self._fail(ProtocolError(f"over {MAX_INTERIM_RESPONSES} interim responses"))
        else:
            self._start_body(exchange, status)

    def on_body(self, body: bytes) -> None:
        exchange = self._exchange
        if exchange is None or exchange.complete:
            return
        room = exchange.cap - exchange.size
        if exchange.decoder is not None:
            try:
                body = exchange.decoder.decode(body, room)
            except Undecodable as exc:
                exchange.decoder, exchange.note = None, exc.note
                exchange.chunks, exchange.size, body = [], 0, exc.raw
                room = exchange.cap
        kept = body[:room]
        exchange.chunks.append(kept)
        exchange.size += len(kept)
        if exchange.size >= exchange.cap and (
            len(body) > room or exchange.decoder is not None or exchange.remaining != 0
        ):
            self._reusable = False  # the rest is never read: the connection must go
            self._finish(truncated=True)

    def on_message_complete(self) -> None:
        exchange = self._exchange
        if exchange is None or exchange.in_head or exchange.complete:
            return  # an interim response ended (the final one follows), or a stray one
        exchange.complete = True
        if not self._parser.should_keep_alive():
            self._reusable = False

    # use ---------------------------------------------------------------------
    def send(self, head: bytes, body: bytes, cap: int) -> asyncio.Future[Response]:
        assert self.transport is not None
        waiter = asyncio.get_running_loop().create_future()
        self._exchange = _Exchange(cap=cap, waiter=waiter)
        self.transport.writelines([head, body])
        return waiter

    @property
    def reusable(self) -> bool:
        transport = self.transport
        return (
            self._reusable
            and not self.closed
            and self._exchange is None
            and transport is not None
            and not transport.is_closing()
        )

    def abort(self) -> None:
        self._reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _start_body(self, exchange: _Exchange, status: int) -> None:
        exchange.in_head = False
        exchange.status = status
        if not exchange.transfer_encoded and exchange.content_length is not None:
            exchange.remaining = exchange.content_length
        # Without chunked framing or a length, the body runs to the close (RFC 9112 §6.3).
        exchange.close_delimited = (
            not exchange.chunked and exchange.remaining is None and status not in _NO_BODY_STATUSES
        )
        exchange.decoder, exchange.note = decoder_for(exchange.content_encoding, exchange.cap)

    def _finish(self, truncated: bool) -> None:
        exchange = self._exchange
        if exchange is None or exchange.waiter.done():
            return
        self._exchange = None
        note = exchange.note
        if not truncated and exchange.decoder is not None and exchange.decoder.ended_early():
            note = f"the {exchange.decoder.name} body ended before its compressed stream did"
        exchange.waiter.set_result(
            Response(
                exchange.status,
                b"".join(exchange.chunks),
                exchange.location,
                exchange.retry_after,
                truncated,
                note,
            )
        )

    def _fail(self, exc: Exception) -> None:
        exchange = self._exchange
        self._exchange = None
        self.abort()
        if exchange is None or exchange.waiter.done():
            return
        if isinstance(exc, ProtocolError) and not exchange.in_head:
            exc.status, exc.body = exchange.status, b"".join(exchange.chunks)
        exchange.waiter.set_exception(exc)


def _head_end(carry: bytes, data: bytes) -> int:
    """The index in `data` just past the blank line that ends a head, or -1.

    `carry` holds the last bytes of the head so far, so that an end split across
    reads is found too.
    """
    if carry:
        at = (carry + data[:3]).find(_END_OF_HEAD)
        if at >= 0:
            return at + len(_END_OF_HEAD) - len(carry)
    at = data.find(_END_OF_HEAD)
    return -1 if at < 0 else at + len(_END_OF_HEAD)


def _cut_short(exchange: _Exchange) -> str:
    if exchange.remaining is not None and exchange.content_length is not None:
        received = exchange.content_length - exchange.remaining
        return (
            f"the connection closed after {received} of the "
            f"{exchange.content_length} body bytes announced"
        )
    return "the connection closed before the end of the chunked body"
