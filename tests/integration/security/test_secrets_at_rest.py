"""What a copy of the database gives away: nothing secret, on SQLite (every file
byte) and PostgreSQL (every row of every table); and the embedded files' modes."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import asyncpg
import httpx
from svix.api import ApplicationIn, EndpointHeadersIn, EndpointIn, EndpointSecretRotateIn

from tests.conftest import sdk
from tests.harness import ServerProcess, tidings, tidings_run

ENDPOINT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEXT_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
HEADER_VALUE = "Bearer header-credential-0451"
SOURCE_SECRET = "source-hmac-secret-9d7c2f1a"


def populate(server: ServerProcess) -> list[str]:
    """Objects with known secrets; every secret, as the operator set or got it."""
    client = sdk(server)
    app = client.application.create(ApplicationIn(name="At rest")).id
    endpoint = client.endpoint.create(
        app, EndpointIn(url="https://example.com/hook", secret=ENDPOINT_SECRET)
    ).id
    client.endpoint.set_headers(app, endpoint, EndpointHeadersIn(headers={"x-auth": HEADER_VALUE}))
    client.endpoint.rotate_secret(app, endpoint, EndpointSecretRotateIn(key=NEXT_SECRET))
    client._httpx_client.close()
    created = httpx.post(
        f"{server.url}/ingest/api/v1/source",
        json={"name": "gh", "type": "github", "config": {"secret": SOURCE_SECRET}},
        headers={"Authorization": f"Bearer {server.token}"},
    ).json()
    ingest_token = created["ingestUrl"].rstrip("/").rsplit("/", 1)[1]
    return [ENDPOINT_SECRET, NEXT_SECRET, HEADER_VALUE, SOURCE_SECRET, ingest_token]


def test_no_database_file_holds_a_secret_and_only_the_owner_reads_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(tmp_path, database_url=f"sqlite:///{data / 'tidings.db'}").start()
    secrets = populate(server)
    files = sorted(path for path in data.iterdir() if path.name != "secret.key")
    assert {path.name for path in files} >= {"tidings.db", "tidings.db-wal"}
    for path in files:  # read while running: the log holds the latest writes
        content = path.read_bytes()
        assert not [secret for secret in secrets if secret.encode() in content], path.name
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data.iterdir()}
    assert set(modes.values()) == {0o600}, modes
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    server.stop()
    for path in data.iterdir():  # and after the log was folded in at the stop
        if path.name != "secret.key":
            assert not [s for s in secrets if s.encode() in path.read_bytes()], path.name


def test_no_postgresql_row_holds_a_secret(tmp_path: Path, postgres_database: str) -> None:
    server = ServerProcess(tmp_path, database_url=postgres_database).start()
    secrets = populate(server)
    server.stop()

    async def every_row() -> str:
        conn = await asyncpg.connect(postgres_database)
        try:
            tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            dumped = []
            for table in tables:
                name = table["tablename"]
                rows = await conn.fetch(f'SELECT t::text AS row FROM "{name}" t')
                dumped += [row["row"] for row in rows]
            return "\n".join(dumped)
        finally:
            await conn.close()

    dump = asyncio.run(every_row())
    assert "sealed:v1:" in dump  # the secrets are there, sealed
    assert [secret for secret in secrets if secret in dump] == []


def test_rotating_the_key_with_the_command(tmp_path: Path) -> None:
    old, new = tidings("secrets", "new-key").strip(), tidings("secrets", "new-key").strip()
    server = ServerProcess(tmp_path, secret_key=old).start()
    populate(server)
    app = server.get_json("/api/v1/app")["data"][0]["id"]
    server.stop()
    env = {"TIDINGS_DATABASE_URL": server.database_url, "TIDINGS_SECRET_KEY": f"{new},{old}"}
    assert tidings("secrets", "rotate-key", env=env).startswith("sealed 2 rows again")
    successor = server.successor()
    successor.settings["TIDINGS_SECRET_KEY"] = new  # the old key is gone
    successor.start()
    endpoint = successor.get_json(f"/api/v1/app/{app}/endpoint")["data"][0]["id"]
    secret = successor.get_json(f"/api/v1/app/{app}/endpoint/{endpoint}/secret")["key"]
    assert secret == NEXT_SECRET
    successor.stop()


def test_postgresql_without_a_key_is_refused_at_start(postgres_database: str) -> None:
    done = tidings_run("migrate", "--database-url", postgres_database)
    assert done.returncode != 0
    assert "PostgreSQL needs TIDINGS_SECRET_KEY" in done.stderr
