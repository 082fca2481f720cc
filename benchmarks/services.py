"""Starting and steering the processes a scenario needs: receiver, Tidings, Redis, PostgreSQL."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from benchmarks import payloads
from benchmarks.procs import (
    Process,
    Processes,
    ProcessFailed,
    log_size,
    python_module,
    wait_until_http,
    wait_until_logged,
)

REDIS_URL = "redis://127.0.0.1:6379/15"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432"
POLL_SECONDS = 0.05


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ReceiverControl:
    """The runner's handle on the receiver process."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.port = port
        self._base = f"http://127.0.0.1:{port}/_ctl"
        self._http = requests.Session()

    def url(self, index: int) -> str:
        return payloads.endpoint_url(index, self.port)

    def reset(
        self, target: int, failing: dict[int, str] | None = None, record: bool = False
    ) -> None:
        config: dict[str, Any] = {"target": target, "failing": failing or {}, "record": record}
        self._http.post(f"{self._base}/reset", json=config, timeout=10).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self._http.get(f"{self._base}/stats", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def latencies(self) -> list[tuple[int, float, float]]:
        response = self._http.get(f"{self._base}/latencies", timeout=60)
        response.raise_for_status()
        return [(int(i), float(sent), float(ms)) for i, sent, ms in response.json()["rows"]]

    def wait_for(
        self, target: int, timeout: float, watch: tuple[Process, ...] = (), stall: float = 60.0
    ) -> dict[str, Any]:
        """Poll until `target` deliveries arrived; return the last stats.

        Gives up after `timeout`, or once nothing new arrived for `stall` seconds
        (`timed_out` is then true), and fails at once if a watched process dies.
        """
        deadline = time.monotonic() + timeout
        seen, progressed = -1, time.monotonic()
        while True:
            stats = self.stats()
            now = time.monotonic()
            if stats["delivered"] != seen:
                seen, progressed = stats["delivered"], now
            stats["stalled"] = now - progressed > stall
            if stats["delivered"] >= target or now > deadline or stats["stalled"]:
                stats["timed_out"] = stats["delivered"] < target
                return stats
            for process in (self.process, *watch):
                process.check_running()
            time.sleep(POLL_SECONDS)


def start_receiver(procs: Processes, logs: Path) -> ReceiverControl:
    port = free_port()
    process = procs.start(
        Process(
            "receiver",
            python_module("benchmarks.receiver", "--port", str(port)),
            logs / "receiver.log",
        )
    )
    wait_until_http(f"http://127.0.0.1:{port}/_ctl/stats", process)
    return ReceiverControl(process, port)


# `tidings api` runs one HTTP process per core (`TIDINGS_API_PROCESSES`), as a
# deployment on this machine would; a worker ignores the setting, and `serve`
# would start that many API processes and a worker (the scenarios pass 1 for it).
API_PROCESSES = str(os.cpu_count() or 1)


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment without TIDINGS_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env.update(extra)
    return env


@dataclass
class Tidings:
    """One Tidings deployment: a database, a token, a port, and the processes on them."""

    workdir: Path
    database_url: str
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: "bench_" + secrets.token_urlsafe(24))
    # Every process of one deployment shares it (PostgreSQL requires one). Made here,
    # not by tidings.storage.sealing, so that `--ref` can measure revisions before it.
    secret_key: str = field(
        default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    )

    @classmethod
    def on_sqlite(cls, workdir: Path, **settings: str) -> Tidings:
        workdir.mkdir(parents=True, exist_ok=True)
        return cls(workdir, f"sqlite:///{workdir / 'tidings.db'}", dict(settings))

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return clean_environment(
            {
                "TIDINGS_DATABASE_URL": self.database_url,
                "TIDINGS_ADMIN_TOKEN": self.token,
                "TIDINGS_SECRET_KEY": self.secret_key,
                "TIDINGS_PORT": str(self.port),
                "TIDINGS_DEV": "true",
                **{f"TIDINGS_{k.upper()}": v for k, v in self.settings.items()},
            }
        )

    def process(self, command: str, name: str | None = None) -> Process:
        label = name or command
        return Process(
            f"tidings {label}",
            python_module("tidings", command),
            self.workdir / f"{label}.log",
            self.env(),
            cwd=self.workdir,
        )

    def start(
        self, procs: Processes, command: str, name: str | None = None, ready: bool = True
    ) -> Process:
        """Start `command`; unless `ready` is false, return once it serves (an API)
        or runs (a worker): a process still importing its modules would spend a
        second of CPU inside a measurement that is not about starting up."""
        unstarted = self.process(command, name)
        logged = log_size(unstarted.log)  # a log from an earlier run is appended to
        process = procs.start(unstarted)
        if command in ("api", "serve"):
            wait_until_http(f"{self.api_url}/api/v1/health", process, status=204)
        if command in ("worker", "serve") and ready:
            wait_until_logged("worker started (pid", process, since=logged)
        return process

    def migrate(self, procs: Processes) -> None:
        process = procs.start(self.process("migrate"))
        if process.wait(timeout=120) != 0:
            raise ProcessFailed(f"tidings migrate failed:\n{process.tail(5)}")


@dataclass(frozen=True)
class Fixture:
    """Applications (by uid) and which endpoints each one's messages reach."""

    apps: list[str]
    endpoints_per_app: int


def create_fixture(tidings: Tidings, receiver: ReceiverControl, fanout: int) -> Fixture:
    """100 endpoints on 100 hosts, in 100/fanout applications of `fanout` endpoints each."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {tidings.token}"
    apps = []
    for app_index in range(payloads.ENDPOINTS // fanout):
        uid = f"bench-app-{app_index}"
        _post(http, f"{tidings.api_url}/api/v1/app", {"name": f"Bench {app_index}", "uid": uid})
        for index in range(app_index * fanout, (app_index + 1) * fanout):
            endpoint = {"url": receiver.url(index), "secret": payloads.endpoint_secret(index)}
            _post(http, f"{tidings.api_url}/api/v1/app/{uid}/endpoint", endpoint)
        apps.append(uid)
    return Fixture(apps, fanout)


def _post(http: requests.Session, url: str, body: dict[str, Any]) -> None:
    response = http.post(url, json=body, timeout=10)
    if response.status_code >= 300:
        raise RuntimeError(f"POST {url}: {response.status_code} {response.text}")


def redis_up() -> bool:
    done = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() == "PONG"


def ensure_redis() -> bool:
    """Start the local Redis if it does not answer; return whether this run started it."""
    if redis_up():
        return False
    for folder in ("/var/lib/redis", "/var/log/redis"):
        Path(folder).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not redis_up():
        if time.monotonic() > deadline:
            raise RuntimeError("redis-server did not answer within 10 s")
        time.sleep(0.1)
    return True


def stop_redis() -> None:
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], check=False, capture_output=True
    )


def psql(sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
    if shutil.which("psql") is None:
        raise RuntimeError("psql is not installed")
    return subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            sql,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def create_database(name: str) -> str:
    """A fresh PostgreSQL database; return its URL."""
    psql(f'DROP DATABASE IF EXISTS "{name}"')
    done = psql(f'CREATE DATABASE "{name}"')
    if done.returncode != 0:
        raise RuntimeError(f"cannot create database {name}: {done.stderr.strip()}")
    return f"{POSTGRES_URL}/{name}"


def drop_database(name: str) -> None:
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
