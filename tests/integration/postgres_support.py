"""PostgreSQL for the process-level integration tests.

`fresh_database()` gives a test its own empty database on the shared server
(tests/contract/conftest.py's ADMIN_URL) and drops it afterwards. `private_cluster()`
runs a throwaway PostgreSQL cluster of the test's own, which the test may stop
and start without disturbing anyone else's tests.

Both skip, saying why, when PostgreSQL (or its server binaries) is missing, unless
TIDINGS_TEST_REQUIRE_POSTGRES=1, which makes them fail instead, as the contract
suite does.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import pytest

# One rule and one server for every PostgreSQL test: reuse the contract suite's.
from tests.contract.conftest import ADMIN_URL, REQUIRE_POSTGRES, admin, postgres_url
from tidings.testing import free_port

CLUSTER_OWNER = "postgres"  # the server refuses to run as root
PG_CTL_TIMEOUT_SECONDS = 30


def skip_or_fail(reason: str) -> NoReturn:
    if REQUIRE_POSTGRES:
        pytest.fail(f"{reason} (TIDINGS_TEST_REQUIRE_POSTGRES=1)")
    pytest.skip(f"{reason}; set TIDINGS_TEST_REQUIRE_POSTGRES=1 to fail instead")


# queries ---------------------------------------------------------------------
async def _fetch(url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def fetch(url: str, sql: str) -> list[Any]:
    """Rows of one query on a fresh connection (callable from synchronous tests)."""
    return asyncio.run(_fetch(url, sql))


def fetchval(url: str, sql: str) -> Any:
    return fetch(url, sql)[0][0]


def execute(url: str, sql: str) -> None:
    fetch(url, sql)


# a database of the test's own on the shared server ------------------------------
@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new database with no schema (the first process to start migrates
    it), dropped on the way out even if processes still hold connections."""
    name = f"tidings_proc_{secrets.token_hex(6)}"
    try:
        asyncio.run(admin(f"CREATE DATABASE {name} TEMPLATE template0"))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        skip_or_fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc!r}")
    try:
        yield postgres_url(name)
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# a cluster of the test's own ---------------------------------------------------
def server_binary(name: str) -> str | None:
    """`initdb` or `pg_ctl` from PATH, else from the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    return max(versions, key=lambda path: int(Path(path).parts[-3]), default=None)


def _owner_prefix() -> list[str]:
    """How to run the server's commands: as ourselves, or, as root, as CLUSTER_OWNER."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        pwd.getpwnam(CLUSTER_OWNER)
    except KeyError:
        runuser = None
    if runuser is None:
        skip_or_fail(f"running as root, but cannot run PostgreSQL as {CLUSTER_OWNER!r}")
    return [runuser, "-u", CLUSTER_OWNER, "--"]


class PrivateCluster:
    """initdb into a temporary folder, then start and stop at will (TCP on 127.0.0.1)."""

    def __init__(self, initdb: str, pg_ctl: str) -> None:
        self._initdb, self._pg_ctl = initdb, pg_ctl
        self._as_owner = _owner_prefix()
        # Not under pytest's tmp_path: its parents are 0700 root, closed to the owner.
        self.base = Path(tempfile.mkdtemp(prefix="tidings-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        if self._as_owner:
            shutil.chown(self.base, CLUSTER_OWNER)
        # -N: no fsync of the new files; this cluster lives for one test.
        self._run(self._initdb, "-D", self.data, "-A", "trust", "-U", "postgres", "-N")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        # -l: the server must not inherit our pipes, or reading them would never end.
        self._pg_ctl_command("start", "-o", options, "-l", self.base / "server.log")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl_command("stop", "-m", mode)
        self.running = False

    def log(self) -> str:
        path = self.base / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def destroy(self) -> None:
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _pg_ctl_command(self, action: str, *args: str | Path) -> None:
        timeout = str(PG_CTL_TIMEOUT_SECONDS)
        self._run(self._pg_ctl, action, "-D", self.data, "-w", "-t", timeout, *args)

    def _run(self, *command: str | Path) -> None:
        done = subprocess.run(
            [*self._as_owner, *map(str, command)],
            capture_output=True,
            text=True,
            timeout=PG_CTL_TIMEOUT_SECONDS + 30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{done.stdout}{done.stderr}\n{self.log()}")


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A running cluster of one's own, stopped and deleted on the way out."""
    initdb, pg_ctl = server_binary("initdb"), server_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        skip_or_fail("PostgreSQL's initdb and pg_ctl are not installed")
    cluster = PrivateCluster(initdb, pg_ctl)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
