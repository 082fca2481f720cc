"""compose.yaml: PostgreSQL, a migration, two API containers and two workers.

No container runs here (no image registry is reachable for postgres); these tests
hold the file's structure, and a compose CLI, where one is installed, parses it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.packaging.flags import ROOT, unknown_flags
from tidings.config import Settings

yaml = pytest.importorskip("yaml")

COMPOSE = ROOT / "compose.yaml"
TIDINGS_SERVICES = ("migrate", "api-1", "api-2", "worker-1", "worker-2")
# What .env must provide; placeholders are enough for parsing.
REQUIRED = ("POSTGRES_PASSWORD", "TIDINGS_SECRET_KEY", "TIDINGS_ADMIN_TOKEN")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return loaded


def seconds(duration: str) -> float:
    """A compose duration such as 30s, 1m30s or 1m."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts, duration
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(value) * scale[unit] for value, unit in parts)


def probe_url(service: dict[str, Any]) -> str:
    """The URL a `python3 -c` health check opens, after checking its code compiles."""
    test = service["healthcheck"]["test"]
    # A string, run by the shell: podman-compose 1.0.3 breaks the list form.
    assert isinstance(test, str), test
    program, flag, code = shlex.split(test)
    assert (program, flag) == ("python3", "-c")
    compile(code, "healthcheck", "exec")
    found = re.search(r"'(http://[^']+)'", code)
    assert found, code
    return found.group(1)


def test_the_stack_has_postgres_a_migration_two_apis_and_two_workers(
    services: dict[str, Any],
) -> None:
    assert set(services) == {"postgres", *TIDINGS_SERVICES}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["postgres"]["healthcheck"]["test"].startswith("pg_isready ")


def test_every_tidings_container_runs_one_image_over_postgres(services: dict[str, Any]) -> None:
    images = {services[name]["image"] for name in TIDINGS_SERVICES}
    assert len(images) == 1
    for name in TIDINGS_SERVICES:
        env = services[name]["environment"]
        assert env["TIDINGS_DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in env["TIDINGS_DATABASE_URL"]
        # Required, never defaulted: compose refuses to start without them.
        for name_ in ("TIDINGS_SECRET_KEY", "TIDINGS_ADMIN_TOKEN"):
            assert env[name_].startswith(f"${{{name_}:?"), env[name_]
        assert services[name]["build"]["context"] == "."


def test_commands_use_only_flags_their_command_accepts(services: dict[str, Any]) -> None:
    commands = {name: services[name]["command"] for name in TIDINGS_SERVICES}
    assert commands["migrate"] == ["migrate"]
    assert commands["api-1"] == commands["api-2"] == ["api"]
    assert commands["worker-1"] == commands["worker-2"]
    assert commands["worker-1"][0] == "worker"
    for argv in commands.values():
        assert unknown_flags(argv) == [], argv


def test_health_checks_probe_readiness_on_the_ports_that_serve_it(
    services: dict[str, Any],
) -> None:
    worker = services["worker-1"]["command"]
    metrics_port = worker[worker.index("--metrics-port") + 1]
    assert worker[worker.index("--host") + 1] == "0.0.0.0"
    for name in ("api-1", "api-2"):
        assert probe_url(services[name]) == "http://127.0.0.1:8040/readyz"
    for name in ("worker-1", "worker-2"):
        assert probe_url(services[name]) == f"http://127.0.0.1:{metrics_port}/readyz"


def test_start_order_is_postgres_then_migration_then_the_rest(services: dict[str, Any]) -> None:
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    for name in ("api-1", "api-2", "worker-1", "worker-2"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"


def test_stopping_gives_workers_more_than_their_shutdown_grace(
    services: dict[str, Any],
) -> None:
    grace = Settings().shutdown_grace
    for name in TIDINGS_SERVICES:
        assert seconds(services[name]["stop_grace_period"]) > grace
        assert services[name]["init"] is True


def compose_cli() -> list[str] | None:
    """`docker compose` where its plugin works, else `docker-compose`; None if neither."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def run_config(
    cli: list[str], env: dict[str, str], env_file: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # An empty env file: a developer's own .env must not fill in what is missing.
        [*cli, "--env-file", str(env_file), "-f", str(COMPOSE), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_compose_cli_accepts_the_file_and_requires_the_secrets(tmp_path: Path) -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    empty = tmp_path / "empty.env"
    empty.touch()
    env = {"PATH": os.environ["PATH"], **dict.fromkeys(REQUIRED, "placeholder")}
    parsed = run_config(cli, env, empty)
    assert parsed.returncode == 0, parsed.stderr
    for missing in REQUIRED:
        refused = run_config(cli, {k: v for k, v in env.items() if k != missing}, empty)
        assert refused.returncode != 0
        assert missing in refused.stderr
