"""A lean HTTP/1.1 client for deliveries: pooled keep-alive connections on
asyncio protocols, responses parsed by httptools (see `exchange` for how each
exchange is read exactly).

Why not a general client: a delivery is always one POST of known bytes, and the
worker sends thousands a second from one event loop. A general client spends
most of its time on what deliveries never use (cookies, redirects, tracing,
streaming request bodies); measured on the benchmark machines, this one costs
about a third of the CPU per request of aiohttp's client. The rest of its job is
safety, and it is all here:

- Every new connection goes to addresses the SSRF guard vetted (one lookup, no
  second one to rebind), with TLS verified against the URL's hostname, also
  through an egress proxy (which is asked for the vetted address).
- Connections are pooled per application as well as per host, so even a server
  that answers out of turn can only ever confuse one application's attempts.
- Response headers are capped; the body is read up to a cap *after*
  decompression, so a gzip bomb or an endless body costs at most the cap.
- The caller bounds the whole exchange with one deadline; a cancelled exchange
  aborts its connection, so nothing half-read is ever reused.
- No proxy variables, no redirects (a 3xx is just a status).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass

import yarl

from tidings.delivery.body import ACCEPT_ENCODING
from tidings.delivery.egress import Proxy
from tidings.delivery.exchange import (
    MAX_HEADER_BYTES,
    Connection,
    NoAnswer,
    ProtocolError,
    Response,
)
from tidings.delivery.guard import GuardedResolver, IPAddress

__all__ = [
    "MAX_HEADER_BYTES",
    "Http1Client",
    "NoAnswer",
    "ProtocolError",
    "Response",
    "Sends",
    "Target",
    "header_block",
    "request_head",
    "target_of",
]

IDLE_SECONDS = 60.0
MAX_IDLE_PER_HOST = 64
# Idle connections kept in all, so that pooling per application stays bounded
# however many applications share a host.
MAX_IDLE = 4096


@dataclass(frozen=True)
class Target:
    """What a URL says about where and how to connect, parsed once per URL."""

    tls: bool
    host: str
    port: int
    host_header: str
    path: str


@functools.lru_cache(maxsize=4096)
def target_of(url: str) -> Target:
    parsed = yarl.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = parsed.raw_host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if parsed.explicit_port is None else f"{shown}:{port}"
    return Target(parsed.scheme == "https", host, port, host_header, parsed.raw_path_qs or "/")


def header_block(target: Target, headers: Iterable[tuple[str, str]], length: int) -> bytes:
    """The request's header lines, checked before anything is sent."""
    lines = [
        f"host: {target.host_header}\r\ncontent-length: {length}\r\n"
        f"accept-encoding: {ACCEPT_ENCODING}\r\n"
    ]
    for name, value in headers:  # the check is inlined: this runs for every header sent
        if "\r" in value or "\n" in value or not _field_name(name):
            raise ValueError(_bad_header(name))
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1", errors="strict")


def request_head(target: Target, block: bytes, connection: Connection) -> bytes:
    """The request line and headers for this connection (direct, or to a proxy)."""
    line = f"POST {connection.request_prefix}{target.path} HTTP/1.1\r\n".encode("latin-1")
    if connection.proxy_headers:
        extra = "".join(_header_line(n, v) for n, v in connection.proxy_headers)
        return line + block + extra.encode("latin-1") + b"\r\n"
    return line + block + b"\r\n"


def _header_line(name: str, value: str) -> str:
    if "\r" in value or "\n" in value or not _field_name(name):
        raise ValueError(_bad_header(name))
    return f"{name}: {value}\r\n"


def _bad_header(name: str) -> str:
    return f"header {name!r} has an invalid name or a line break in its value"


@functools.lru_cache(maxsize=1024)
def _field_name(name: str) -> bool:
    """Whether `name` can be written as a header name (few distinct names: cached)."""
    return bool(name) and not any(c in name for c in "\r\n: ")


@dataclass
class Sends:
    """How many times one post wrote its request: 2 when a reused connection
    closed before any answer and the request went again on a new one."""

    count: int = 0


class Http1Client:
    """Keep-alive connections per (application, scheme, host, port); at most one
    exchange on a connection at a time. Not thread-safe: one client per event loop."""

    def __init__(
        self,
        resolver: GuardedResolver,
        tls: ssl.SSLContext | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        self._resolver = resolver
        self._tls = tls or ssl.create_default_context()
        self._proxy = proxy
        self._idle: dict[tuple[object, ...], list[Connection]] = {}
        self._idle_count = 0

    async def post(
        self,
        target: Target,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        cap: int,
        partition: object = None,
        sends: Sends | None = None,
    ) -> Response:
        """POST `body`; the caller bounds it with a deadline (cancelling is safe).

        Connections are shared only between posts with equal `partition` (the
        application), so no answer can cross from one partition to another.
        `sends` counts the times the request was written, even when this raises.
        """
        block = header_block(target, headers, len(body))
        sends = sends or Sends()
        key = (partition, target.tls, target.host, target.port)
        connection = self._take_idle(key)
        if connection is not None:
            try:
                return await self._exchange(connection, target, block, body, cap, sends)
            except NoAnswer:
                # The server closed the kept-alive connection as the request went
                # out (its idle timeout). It may have read the request, so the
                # second send is counted: receivers deduplicate on webhook-id.
                pass
        connection = await self._connect(key, target)
        return await self._exchange(connection, target, block, body, cap, sends)

    async def _exchange(
        self,
        connection: Connection,
        target: Target,
        block: bytes,
        body: bytes,
        cap: int,
        sends: Sends,
    ) -> Response:
        try:
            head = request_head(target, block, connection)
            waiter = connection.send(head, body, cap)
            sends.count += 1
            response = await waiter
        except BaseException:
            connection.abort()  # cancelled mid-exchange or failed: never reuse
            raise
        self._put_idle(connection)
        return response

    async def _connect(self, key: tuple[object, ...], target: Target) -> Connection:
        addresses = await self._resolver.resolve(target.host, target.port)
        failure: OSError | None = None
        for address in addresses:
            try:
                return await self._open(key, target, address)
            except ProtocolError:
                raise
            except OSError as exc:  # try the next vetted address
                failure = exc
        raise failure or OSError(f"no address for {target.host}")

    async def _open(
        self, key: tuple[object, ...], target: Target, address: IPAddress
    ) -> Connection:
        tls_host = target.host if target.tls else None
        if self._proxy is not None:
            return await self._proxy.open(key, str(address), target.port, tls_host, self._tls)
        _, connection = await asyncio.get_running_loop().create_connection(
            lambda: Connection(key),
            str(address),
            target.port,
            ssl=self._tls if target.tls else None,
            server_hostname=tls_host,
        )
        return connection

    def _take_idle(self, key: tuple[object, ...]) -> Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.reusable and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.abort()
        self._idle.pop(key, None)  # hosts seen once do not pile up
        return None

    def _put_idle(self, connection: Connection) -> None:
        if not connection.reusable:
            connection.abort()
            return
        idle = self._idle.setdefault(connection.key, [])
        if len(idle) >= MAX_IDLE_PER_HOST or self._idle_count >= MAX_IDLE:
            connection.abort()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)
        self._idle_count += 1

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.abort()
        self._idle.clear()
        self._idle_count = 0
