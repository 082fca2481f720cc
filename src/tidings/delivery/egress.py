"""How deliveries leave the machine: the TLS trust and identity they use, and
the forward proxy they may have to go through.

Companies often allow egress only through a proxy, and run receivers whose
certificates come from their own CA. Neither may weaken the SSRF guard: the
destination is always resolved and vetted here first, and the proxy is asked for
that vetted address, never for the name (which it would resolve again, to
anything). TLS to the destination is still verified against the URL's hostname,
end to end through the tunnel.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast
from urllib.parse import unquote

import yarl

from tidings.delivery.exchange import Connection

_MAX_PROXY_HEAD = 16 * 1024
_P = TypeVar("_P", bound=asyncio.Protocol)
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})[^\r\n]*")


class ProxyRefused(ConnectionError):
    """The proxy would not open a tunnel to the destination."""


@dataclass(frozen=True)
class Egress:
    """Settings for reaching endpoints; the defaults go straight out, trusting
    only the system's CAs."""

    ca_file: str = ""
    proxy_url: str = ""
    client_cert_file: str = ""
    client_key_file: str = ""

    def tls_context(self) -> ssl.SSLContext:
        """TLS for destinations: the system's CAs plus the private bundle, and the
        client certificate presented to servers that ask for one."""
        context = self._trust()
        if self.client_cert_file:
            context.load_cert_chain(self.client_cert_file, self.client_key_file or None)
        return context

    def proxy(self) -> Proxy | None:
        if not self.proxy_url:
            return None
        return Proxy.parse(self.proxy_url, self._trust())

    def _trust(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file:
            context.load_verify_locations(cafile=self.ca_file)  # added to, not replacing
        return context


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    tls: ssl.SSLContext | None
    authorization: str | None

    @classmethod
    def parse(cls, url: str, trust: ssl.SSLContext) -> Proxy:
        parsed = yarl.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.raw_host:
            raise ValueError(f"the proxy URL must be http:// or https:// with a host: {url!r}")
        authorization = None
        if parsed.raw_user is not None:
            credentials = f"{unquote(parsed.raw_user)}:{unquote(parsed.raw_password or '')}"
            authorization = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
        tls = trust if parsed.scheme == "https" else None
        return cls(parsed.raw_host, parsed.port or (443 if tls else 80), tls, authorization)

    async def open(
        self,
        key: tuple[object, ...],
        address: str,
        port: int,
        tls_host: str | None,
        destination_tls: ssl.SSLContext,
    ) -> Connection:
        """A connection to `address:port` through the proxy: a CONNECT tunnel for
        TLS destinations (`tls_host` set), absolute-form requests otherwise."""
        if tls_host is None:
            connection = await self._dial(
                lambda: Connection(key, f"http://{_shown(address)}:{port}")
            )
            if self.authorization:
                connection.proxy_headers = (("proxy-authorization", self.authorization),)
            return connection
        handshake = await self._dial(_TunnelHandshake)
        await handshake.establish(self._connect_head(address, port))
        connection = Connection(key)
        assert handshake.transport is not None
        transport = await asyncio.get_running_loop().start_tls(
            handshake.transport, connection, destination_tls, server_hostname=tls_host
        )
        if transport is None:  # the proxy went away during the handshake
            raise ConnectionResetError("the egress proxy closed the tunnel during TLS setup")
        connection.connection_made(transport)
        return connection

    async def _dial(self, factory: Callable[[], _P]) -> _P:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_connection(
                factory,
                self.host,
                self.port,
                ssl=self.tls,
                server_hostname=self.host if self.tls else None,
            )
        except OSError as exc:
            raise ConnectionError(
                f"cannot reach the egress proxy {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        return protocol

    def _connect_head(self, address: str, port: int) -> bytes:
        authority = f"{_shown(address)}:{port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"host: {authority}"]
        if self.authorization:
            lines.append(f"proxy-authorization: {self.authorization}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _shown(address: str) -> str:
    return f"[{address}]" if ":" in address else address


class _TunnelHandshake(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT: a head and nothing after it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    async def establish(self, head: bytes) -> None:
        assert self.transport is not None
        self.transport.write(head)
        try:
            await self._answer
        except BaseException:
            self.transport.abort()
            raise

    def data_received(self, data: bytes) -> None:
        if self._answer.done():
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_PROXY_HEAD:
                self._answer.set_exception(ProxyRefused("the egress proxy's answer is too long"))
            return
        if len(self._buffer) > end + 4:
            # Bytes before our TLS hello are not the destination's: refuse them.
            self._answer.set_exception(ProxyRefused("the egress proxy sent data after its answer"))
            return
        self._judge(bytes(self._buffer[:end]))

    def _judge(self, head: bytes) -> None:
        matched = _STATUS_LINE.match(head)
        if matched is None:
            self._answer.set_exception(ProxyRefused("the egress proxy's answer is not HTTP"))
        elif matched.group(1) != b"200":
            line = matched.group(0).decode("latin-1")
            self._answer.set_exception(ProxyRefused(f"the egress proxy refused the tunnel: {line}"))
        else:
            self._answer.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._answer.done():
            self._answer.set_exception(
                ConnectionResetError("the egress proxy closed the connection before answering")
            )
