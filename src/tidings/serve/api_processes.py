"""`tidings api --api-processes N`: N HTTP processes sharing one listening socket
(and `tidings serve --api-processes N`: the same, plus a worker process).

One Python process serves HTTP on one core at most: its event loop and its SQLite
writer share one GIL. To use more cores, this process binds the port once and
prepares what must happen once (migrations, the generated admin token, applying
the config file), then starts N `tidings api` children that serve on the inherited
socket; the kernel gives each new connection to whichever child accepts it. Each
child has its own database connections; on SQLite their group-commit writers take
turns at the write lock (storage/sqlite/turns.py).

This process keeps watching the config file, starts a new child when one dies
(waiting longer each time one dies young), and on SIGTERM or SIGINT passes SIGTERM
on and waits for the children to finish their requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from tidings.config import Settings
from tidings.serve.child_flags import LISTEN_FD_FLAG, PARENT_PID_FLAG
from tidings.serve.runtime import (
    announce,
    bootstrap_token,
    check_admin_token,
    config_watcher,
    open_store_when_ready,
    stop_on_signals,
)

log = logging.getLogger("tidings")

# A child that dies sooner than this after starting is restarted after a growing pause.
HEALTHY_AFTER_SECONDS = 10.0
FIRST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS = 0.5, 30.0
# After passing on SIGTERM: the children's own graceful shutdown takes a few seconds.
STOP_PATIENCE_SECONDS = 30.0
POLL_SECONDS = 0.2


def bind(settings: Settings) -> socket.socket:
    """The listening socket every child inherits, on the host's first address
    (IPv4 or IPv6, as the name resolves)."""
    where = f"{settings.host}:{settings.port}"
    try:
        family, _, _, _, address = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.create_server(address[:2], family=family, backlog=2048)
    except OSError as exc:
        raise SystemExit(f"could not listen on {where}: {exc}") from None
    listener.set_inheritable(True)
    return listener


async def run(
    settings: Settings, argv: Sequence[str], worker_argv: Sequence[str] | None = None
) -> None:
    """Serve with `settings.api_processes` children started as `tidings <argv>`, and
    with one more started as `tidings <worker_argv>` if given (`serve`)."""
    if settings.database_url.endswith(":memory:"):
        raise SystemExit("tidings: an in-memory database cannot be shared by API processes")
    check_admin_token(settings)
    announce(settings)
    listener = bind(settings)
    log.info(
        "Tidings listening on http://%s:%d (%d API processes)",
        settings.host,
        settings.port,
        settings.api_processes,
    )
    store = await open_store_when_ready(settings)
    try:
        await bootstrap_token(store, settings)
        watcher = await config_watcher(store, settings)
        stopping = stop_on_signals()
        children = Children(argv, listener.fileno(), settings.api_processes, worker_argv)
        tasks = [asyncio.create_task(children.supervise(stopping), name="children")]
        if watcher is not None:
            tasks.append(asyncio.create_task(watcher.run(stopping), name="config"))
        await asyncio.gather(*tasks)
    finally:
        await store.close()
        listener.close()


class _Child:
    def __init__(self, kind: str, argv: list[str], pass_fds: tuple[int, ...]) -> None:
        self.kind = kind
        self.popen = subprocess.Popen(argv, pass_fds=pass_fds)
        self.started_at = time.monotonic()


class Children:
    """The API processes, and `serve`'s worker process, kept running until asked to
    stop. They share this process's session, so the worker's lower priority ranks
    it below the API processes (cli/priority.py)."""

    def __init__(
        self, argv: Sequence[str], fd: int, count: int, worker_argv: Sequence[str] | None = None
    ) -> None:
        supervised = [PARENT_PID_FLAG, str(os.getpid())]
        command = [sys.executable, "-m", "tidings"]
        api = ("API process", [*command, *argv, LISTEN_FD_FLAG, str(fd), *supervised], (fd,))
        self._kinds: list[tuple[str, list[str], tuple[int, ...]]] = [api] * count
        if worker_argv is not None:
            self._kinds.append(("worker process", [*command, *worker_argv, *supervised], ()))
        self._pause = FIRST_PAUSE_SECONDS

    async def supervise(self, stopping: asyncio.Event) -> None:
        children = [self._start(index) for index in range(len(self._kinds))]
        log.info("processes started: %s", ", ".join(f"{c.kind} {c.popen.pid}" for c in children))
        while not stopping.is_set():
            for index, child in enumerate(children):
                code = child.popen.poll()
                if code is None or stopping.is_set():
                    continue
                lived = time.monotonic() - child.started_at
                self._pause = (
                    FIRST_PAUSE_SECONDS
                    if lived >= HEALTHY_AFTER_SECONDS
                    else min(self._pause * 2, LONGEST_PAUSE_SECONDS)
                )
                log.error(
                    "%s %d exited with %s after %.1fs; starting another in %.1fs",
                    child.kind,
                    child.popen.pid,
                    code,
                    lived,
                    self._pause,
                )
                await _sleep_unless(stopping, self._pause)
                if not stopping.is_set():
                    children[index] = self._start(index)
            await _sleep_unless(stopping, POLL_SECONDS)
        for child in children:  # all at once: each then has the whole patience
            if child.popen.poll() is None:
                child.popen.send_signal(signal.SIGTERM)
        await asyncio.gather(*(asyncio.to_thread(_reap, child) for child in children))
        log.info("API stopped")

    def _start(self, index: int) -> _Child:
        kind, argv, pass_fds = self._kinds[index]
        return _Child(kind, argv, pass_fds)


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


def _reap(child: _Child) -> None:
    """Wait for a child told to stop; kill it if it takes too long."""
    try:
        child.popen.wait(STOP_PATIENCE_SECONDS)
    except subprocess.TimeoutExpired:
        log.error(
            "%s %d did not stop within %gs; killing it",
            child.kind,
            child.popen.pid,
            STOP_PATIENCE_SECONDS,
        )
        child.popen.kill()
        child.popen.wait()
