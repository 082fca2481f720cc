"""Helpers for testing webhooks end to end, usable from any test suite.

`Receiver` is a real HTTP server on a free port, in a background thread, whose
responses a test scripts per path and whose received requests a test inspects.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["Received", "Receiver", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class _Script:
    statuses: deque[int] = field(default_factory=deque)
    default: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    handler: Handler | None = None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Receiver:
    """A scriptable webhook receiver. Use as a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._scripts: dict[str, _Script] = defaultdict(_Script)
        self._received: list[Received] = []
        self._lock = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def respond(
        self,
        path: str,
        statuses: Iterable[int] = (),
        then: int = 200,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer `path` with each of `statuses` in turn, then `then` forever, after
        `delay` seconds, with `headers`."""
        with self._lock:
            self._scripts[path] = _Script(deque(statuses), then, delay, dict(headers or {}))

    def handle(self, path: str, handler: Handler) -> None:
        """Answer `path` with a custom aiohttp handler (requests are still recorded)."""
        with self._lock:
            self._scripts[path] = _Script(handler=handler)

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 20.0
    ) -> list[Received]:
        """Block until `count` requests (to `path`, if given) have arrived."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [r for r in self._received if path is None or r.path == path]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"got {len(found)} of {count} requests to {path or 'any path'}"
                    )
                self._lock.wait(remaining)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            script = self._scripts[request.path]
            status = script.statuses.popleft() if script.statuses else script.default
            self._received.append(
                Received(request.path, dict(request.headers), body, time.monotonic())
            )
            self._lock.notify_all()
        if script.handler is not None:
            return await script.handler(request)
        if script.delay:
            await asyncio.sleep(script.delay)
        return web.Response(
            status=status, text=f"receiver answered {status}", headers=script.headers
        )

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Do not wait for handlers that hang on purpose when the test ends.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        # Port 0 asks the OS for a free port; read back which one it chose.
        server = site._server
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = sockets[0].getsockname()[1]

    def __enter__(self) -> Receiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
