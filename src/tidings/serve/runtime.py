"""Running Tidings' long-lived services in one process: the API, the worker, or both."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from tidings.api import tokens
from tidings.api.app import TidingsApi, create_app
from tidings.api.probes import Check
from tidings.api.services import services_of
from tidings.config import Settings, key_ring, shown
from tidings.delivery.egress import Egress
from tidings.delivery.guard import AddressPolicy
from tidings.delivery.operational import OperationalWebhooks
from tidings.delivery.worker import Worker, WorkerOptions
from tidings.domain.access import TokenKind
from tidings.domain.errors import StorageUnavailable
from tidings.ingest.config_file import ConfigError
from tidings.ingest.config_watch import ConfigWatcher
from tidings.ingest.performer import SourcePerformer
from tidings.serve.http_limits import Limits, guarded_protocol
from tidings.serve.probe_port import claiming_check, probe_app
from tidings.storage import Store, open_store
from tidings.telemetry import traces
from tidings.telemetry.logs import get_logger

log = logging.getLogger("tidings")
structured = get_logger("tidings")

_PLACEHOLDER_TOKENS = {"changeme", "change-me", "secret", "token", "admin", "test", "password"}
MIN_TOKEN_LENGTH = 16
STARTUP_PATIENCE_SECONDS = 60.0
ORPHAN_CHECK_SECONDS = 1.0
STARTED_POLL_SECONDS = 0.01


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: this process owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def check_admin_token(settings: Settings) -> None:
    """Outside dev mode a guessable admin token is refused, not merely warned about;
    dev mode itself is refused on an address other machines can reach."""
    if settings.dev and not _loopback(settings.host):
        raise SystemExit(
            f"--dev accepts weak tokens and endpoints on this machine, so it serves only on "
            f"a loopback host (127.0.0.1, ::1 or localhost), not {settings.host!r}"
        )
    token = settings.admin_token
    if token is None or settings.dev:
        return
    if token.lower() in _PLACEHOLDER_TOKENS or len(token) < MIN_TOKEN_LENGTH:
        raise SystemExit(
            f"TIDINGS_ADMIN_TOKEN is too weak (a placeholder or under {MIN_TOKEN_LENGTH} "
            "characters); set a long random value, or use --dev for local experiments"
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def bootstrap_token(store: Store, settings: Settings) -> None:
    """With no admin token configured and none stored, make one and show it once."""
    if settings.admin_token is not None or await store.count_tokens() > 0:
        return
    token, _ = await tokens.issue(store, TokenKind.ADMIN, "bootstrap admin")
    print(
        "\n  Tidings generated an admin API token. It is shown only this once; "
        f"only its hash is stored:\n\n    {token}\n",
        flush=True,
    )


def address_policy(settings: Settings) -> AddressPolicy:
    policy = AddressPolicy.from_setting(settings.allowed_subnets, allow_loopback=settings.dev)
    if settings.dev:
        log.warning(
            "DEV MODE: endpoints on loopback addresses are allowed and weak tokens accepted. "
            "Never run --dev where untrusted users can create endpoints."
        )
    return policy


async def open_when_ready(store: Store, patience: float = STARTUP_PATIENCE_SECONDS) -> None:
    """Open the store, waiting for a database that is still starting (or restarting)
    rather than exiting at once; give up after `patience` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    delay = 0.2
    while True:
        try:
            await store.open()
            return
        except StorageUnavailable as exc:
            if loop.time() + delay > deadline:
                raise SystemExit(f"tidings: the database is unavailable: {exc}") from None
            log.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


@dataclass(frozen=True)
class Inherited:
    """What one of several API processes gets from the process that started it
    (api_processes.py): the listening socket it bound, and its pid."""

    listener: socket.socket
    parent_pid: int


async def run_services(
    settings: Settings,
    api: bool,
    worker: bool,
    inherited: Inherited | None = None,
    parent_pid: int | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, or until the supervising process `parent_pid`
    (or `inherited`'s) is gone. A process that `inherited` its socket leaves the
    generated token and the config file to its parent, which handled them."""
    check_admin_token(settings)
    if inherited is None and parent_pid is None:
        announce(settings)
    traces.configure()
    store = await open_store_when_ready(settings)
    try:
        watcher = None
        if inherited is None:
            await bootstrap_token(store, settings)
            watcher = await config_watcher(store, settings)
        parent = inherited.parent_pid if inherited is not None else parent_pid
        await _run_until_signal(store, settings, api, worker, watcher, inherited, parent)
    finally:
        await store.close()


def announce(settings: Settings) -> None:
    """One line with every effective setting, secrets masked: what an operator
    checks first when the server does not behave as configured."""
    structured.info("settings", settings=shown(settings))


async def open_store_when_ready(settings: Settings) -> Store:
    store = open_store(settings.database_url, settings.database_pool_size, key_ring(settings))
    # A database server may still be starting; a SQLite file that cannot be opened
    # will not fix itself, so that fails at once.
    remote = not settings.database_url.startswith("sqlite:")
    await open_when_ready(store, STARTUP_PATIENCE_SECONDS if remote else 0.0)
    return store


async def config_watcher(store: Store, settings: Settings) -> ConfigWatcher | None:
    """The config file's watcher, with the file applied; a bad file stops the start."""
    if not settings.config:
        return None
    try:
        watcher = ConfigWatcher(settings.config, store, settings.config_allow_shared_write)
    except ConfigError as exc:
        raise SystemExit(f"tidings: config file: {exc}") from None
    await watcher.apply()
    names = ", ".join(source.uid for source in watcher.current.sources) or "none"
    log.info("config file %s loaded; sources: %s", settings.config, names)
    return watcher


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    return stopping


async def _run_until_signal(
    store: Store,
    settings: Settings,
    api: bool,
    worker: bool,
    watcher: ConfigWatcher | None,
    inherited: Inherited | None,
    parent_pid: int | None,
) -> None:
    stopping = stop_on_signals()
    tasks = []
    if parent_pid is not None:
        orphaned = _stop_when_orphaned(stopping, parent_pid)
        tasks.append(asyncio.create_task(orphaned, name="parent"))
    delivery = _worker(store, settings) if worker else None
    notify = delivery.notify if delivery is not None else (lambda: None)
    operational = OperationalWebhooks(store, notify)
    if watcher is not None:
        tasks.append(asyncio.create_task(watcher.run(stopping), name="config"))
    readiness: dict[str, Check] = {}
    if delivery is not None:
        delivery.performer = SourcePerformer(store, watcher.get if watcher else lambda: None)
        delivery.on_recorded = operational.attempts_recorded
        tasks.append(asyncio.create_task(delivery.run(stopping), name="worker"))
        readiness["claiming"] = claiming_check(delivery, settings)
        log.info("worker started (pid %d)", os.getpid())
        if not api and settings.metrics_port:
            probing = probe_app(store, settings, delivery, stopping)
            serving = _serve_http(probing, settings, settings.metrics_port, stopping)
            tasks.append(asyncio.create_task(serving, name="probes"))
    if api:
        app = create_app(store, settings, notify, operational, readiness)
        listener = [inherited.listener] if inherited else None
        serving = _serve_http(app, settings, settings.port, stopping, listener)
        tasks.append(asyncio.create_task(serving, name="api"))
    await asyncio.gather(*tasks)


async def _stop_when_orphaned(stopping: asyncio.Event, parent: int) -> None:
    """A supervised process (an API process, or `serve`'s worker) stops when the
    process that started it is gone
    (killed outright, it could not pass SIGTERM on), even before this one started."""
    while not stopping.is_set():
        if os.getppid() != parent:
            log.warning("the supervising process %d is gone; stopping", parent)
            stopping.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), ORPHAN_CHECK_SECONDS)


async def _announce_when_serving(
    server: uvicorn.Server, serving: asyncio.Task[None], what: str
) -> None:
    """Tell the log once the port takes requests (not before: a refused start, a
    weak token or a port in use, must not have said it was listening)."""
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn sets a bool
        await asyncio.sleep(STARTED_POLL_SECONDS)
    if server.started:
        log.info(what)


def _worker(store: Store, settings: Settings) -> Worker:
    options = WorkerOptions(
        retry_schedule=settings.retry_schedule,
        request_timeout=settings.request_timeout,
        concurrency=settings.worker_concurrency,
        policy=address_policy(settings),
        shutdown_grace=settings.shutdown_grace,
        lease_seconds=settings.lease_seconds,
        disable_after_seconds=settings.disable_after,
        endpoint_concurrency=settings.endpoint_concurrency,
        log_attempts=settings.log_attempts,
        trace_propagation=settings.trace_propagation,
        egress=Egress(
            settings.ca_file,
            settings.proxy_url,
            settings.client_cert_file,
            settings.client_key_file,
        ),
    )
    return Worker(store, options)


async def _serve_http(
    app: FastAPI,
    settings: Settings,
    port: int,
    stopping: asyncio.Event,
    listener: list[socket.socket] | None = None,
) -> None:
    """Serve `app` on `port` (or on the inherited `listener`) until `stopping`."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        http=guarded_protocol(
            Limits(settings.header_timeout, settings.body_timeout, settings.max_connections)
        ),
        lifespan="off",
        access_log=False,
        # uvicorn's records reach the root logger, and so the process's one log format.
        log_config=None,
        # No `server: uvicorn` on every response: it names our software to anyone
        # probing an ingest URL, and each default header is checked per response.
        server_header=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(listener))
    serves_api = isinstance(app, TidingsApi)
    if listener is not None:  # one of several API processes on the parent's socket
        what = f"API process {os.getpid()} serving"
    else:
        what = (
            f"{'Tidings' if serves_api else 'metrics'} listening on http://{settings.host}:{port}"
        )
    await _announce_when_serving(server, serving, what)
    await asyncio.wait(
        [serving, asyncio.ensure_future(stopping.wait())], return_when="FIRST_COMPLETED"
    )
    if serves_api:
        services_of(app).stopping.set()
    server.should_exit = True
    await serving
    if server.started:
        log.info("API stopped" if serves_api else "metrics port stopped")
    else:
        stopping.set()
        raise SystemExit(f"could not listen on {settings.host}:{port}")
