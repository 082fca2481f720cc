"""Starting the real `tidings` server as a subprocess, for integration tests."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

import asyncpg  # type: ignore[import-untyped]

from tests.keys import TEST_KEY
from tidings.testing import free_port

STARTUP_TIMEOUT = 20.0


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment without any TIDINGS_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env.update(extra)
    return env


def tidings(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run `tidings ARGS...` to completion; its standard output."""
    done = tidings_run(*args, env=env, cwd=cwd)
    done.check_returncode()
    return done.stdout


def tidings_run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `tidings ARGS...` to completion, whatever it exits with."""
    return subprocess.run(
        [sys.executable, "-m", "tidings", *args],
        env=clean_environment(env or {}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


class ServerProcess:
    """`tidings serve` (or `api`/`worker`) on a free port over its own SQLite file."""

    # Every process started, so a test that fails halfway leaks none (see conftest).
    started: ClassVar[list[ServerProcess]] = []

    def __init__(self, workdir: Path, command: str = "serve", **settings: str) -> None:
        self.workdir = workdir
        self.command = command
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = "test_" + secrets.token_urlsafe(24)
        self.database_url = f"sqlite:///{workdir / 'tidings.db'}"
        self.settings = {
            "TIDINGS_ADMIN_TOKEN": self.token,
            "TIDINGS_DATABASE_URL": self.database_url,
            "TIDINGS_PORT": str(self.port),
            "TIDINGS_RETRY_SCHEDULE": "0,0.2,0.2",
            "TIDINGS_REQUEST_TIMEOUT": "5",
            "TIDINGS_DEV": "true",
            **{f"TIDINGS_{k.upper()}": v for k, v in settings.items()},
        }
        self.database_url = self.settings["TIDINGS_DATABASE_URL"]
        if self.database_url.startswith("postgres"):  # SQLite makes a key file beside it
            self.settings.setdefault("TIDINGS_SECRET_KEY", TEST_KEY)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{command}-{self.port}.log"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of `sql` read straight from this server's database (either backend)."""
        if self.database_url.startswith("sqlite:///"):
            with sqlite3.connect(self.database_url.removeprefix("sqlite:///")) as conn:
                return [tuple(row) for row in conn.execute(sql)]

        async def fetch() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.database_url)
            try:
                return [tuple(row) for row in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def cli_env(self) -> dict[str, str]:
        """What `tidings token ...` and other commands need to reach this database."""
        names = ("TIDINGS_DATABASE_URL", "TIDINGS_SECRET_KEY")
        return {name: self.settings[name] for name in names if name in self.settings}

    def successor(self, command: str | None = None) -> ServerProcess:
        """A new process on the same port, token and database, as after a restart."""
        follower = ServerProcess(self.workdir, command or self.command)
        follower.port, follower.url, follower.token = self.port, self.url, self.token
        follower.settings = dict(self.settings)
        return follower

    def start(self) -> ServerProcess:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tidings", self.command],
                env=clean_environment(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        ServerProcess.started.append(self)
        if self.command != "worker":
            self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=1) as response:
                    if response.status == 204:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise RuntimeError(f"server not healthy after {STARTUP_TIMEOUT}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def get_json(self, path: str) -> Any:
        """GET an API path with the admin token; for fields the SDK's models drop."""
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def stop_leftovers() -> None:
    """Kill whatever a test started and did not stop."""
    while ServerProcess.started:
        process = ServerProcess.started.pop()
        if process.process is not None and process.process.poll() is None:
            process.kill()
