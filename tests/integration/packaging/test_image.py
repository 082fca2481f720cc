"""The container image, built from the Dockerfile and run with podman: one message
goes from its API to a receiver on this machine.

Opt-in (TIDINGS_TEST_IMAGE=1): a first run builds a Debian base image with debootstrap
(about a minute) and the image itself (about 20 s); later runs reuse both. Without an
image registry, the official python base cannot be pulled, so the base is made here:
set TIDINGS_TEST_BASE_IMAGE to use another one."""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.packaging.flags import ROOT
from tests.waiting import eventually
from tidings.testing import Receiver, free_port

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("TIDINGS_TEST_IMAGE") != "1",
        reason="builds and runs the container image; opt in with TIDINGS_TEST_IMAGE=1",
    ),
    # The first run debootstraps a base image and builds; later ones take seconds.
    pytest.mark.timeout(900),
]

IMAGE = "localhost/tidings:test"
LOCAL_BASE = "localhost/tidings-base:bookworm"
BASE = os.environ.get("TIDINGS_TEST_BASE_IMAGE", LOCAL_BASE)
MIRROR = os.environ.get("TIDINGS_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
UID = "10001"


def podman_command() -> list[str]:
    found = shutil.which("podman")
    if found is None:
        pytest.skip("podman is not installed (Debian: apt-get install podman)")
    # crun refuses hosts whose cgroups are in hybrid mode (as in this project's VMs);
    # runc runs there.
    return [found, "--runtime", "runc"] if shutil.which("runc") else [found]


def limits() -> list[str]:
    """podman raises open files and processes to values a sandboxed root may not set
    (here processes stop at 32768): ask for this process's own open-file limit and a
    modest process count instead."""
    _, files = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = min(files, 65536) if files != resource.RLIM_INFINITY else 65536
    return ["--ulimit", f"nofile={files}:{files}", "--ulimit", "nproc=4096:4096"]


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*podman_command(), *args], capture_output=True, text=True, timeout=timeout
    )


def must(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout


def build_debian_base() -> None:
    """Debian bookworm's python3 (3.11) as a local image, from Debian's own mirror."""
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        pytest.skip(f"{LOCAL_BASE} is missing and debootstrap is not installed to make it")
    with tempfile.TemporaryDirectory() as scratch:
        rootfs = Path(scratch) / "rootfs"
        include = "--include=python3,python3-venv,python3-pip,ca-certificates"
        made = subprocess.run(
            [debootstrap, "--variant=minbase", include, "bookworm", str(rootfs), MIRROR],
            capture_output=True,
            text=True,
            timeout=600,
        )
        must(made)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / cache, ignore_errors=True)
        # The root file system as a tar stream into `podman import`, never on disk twice.
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(
                [*podman_command(), "import", "-", LOCAL_BASE],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                timeout=300,
            )
        assert tar.returncode == 0
        must(imported)


def ca_bundle() -> str | None:
    """The CA bundle pip trusts here, for a network whose proxy re-signs TLS."""
    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if os.path.isfile(os.environ.get(name, "")):
            return os.environ[name]
    system = "/etc/ssl/certs/ca-certificates.crt"
    return system if os.path.isfile(system) else None


@pytest.fixture(scope="module")
def image() -> str:
    if BASE == LOCAL_BASE and podman("image", "exists", LOCAL_BASE).returncode != 0:
        build_debian_base()
    bundle = ca_bundle()
    secret = ["--secret", f"id=pip_ca,src={bundle}"] if bundle else []
    # docker format: the OCI format has no HEALTHCHECK. Host network: pip reaches PyPI.
    args = ["build", "--format", "docker", "--network", "host", *limits(), *secret]
    must(podman(*args, "--build-arg", f"BASE_IMAGE={BASE}", "-t", IMAGE, str(ROOT), timeout=600))
    return IMAGE


@dataclass
class Running:
    name: str
    volume: str
    url: str
    token: str


@pytest.fixture
def container(image: str) -> Iterator[Running]:
    """`tidings serve` in the image, on this machine's network so that --dev lets it
    deliver to a receiver on 127.0.0.1."""
    name = f"tidings-test-{secrets.token_hex(4)}"
    port = free_port()
    running = Running(name, name, f"http://127.0.0.1:{port}", secrets.token_urlsafe(24))
    try:
        must(
            podman(
                *("run", "--detach", "--name", name, "--network", "host", *limits()),
                *("--volume", f"{name}:/var/lib/tidings"),
                *("--env", f"TIDINGS_PORT={port}", "--env", f"TIDINGS_ADMIN_TOKEN={running.token}"),
                *(image, "serve", "--dev", "--host", "127.0.0.1"),
            )
        )
        health = eventually(lambda: status(f"{running.url}/api/v1/health"), lambda s: s == 204)
        assert health == 204, must(podman("logs", name))
        yield running
    finally:
        podman("rm", "--force", "--time", "0", name)
        podman("volume", "rm", "--force", name)


def status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return 0


def test_a_message_sent_to_the_container_reaches_a_receiver(container: Running) -> None:
    auth = {"Authorization": f"Bearer {container.token}"}
    payload = {"image": "built here"}
    with Receiver() as receiver, httpx.Client(base_url=container.url, headers=auth) as api:
        app = api.post("/api/v1/app", json={"name": "image test"}).json()
        api.post(f"/api/v1/app/{app['id']}/endpoint", json={"url": receiver.url()})
        created = api.post(
            f"/api/v1/app/{app['id']}/msg", json={"eventType": "image.ran", "payload": payload}
        )
        assert created.status_code == 202, created.text
        (delivered,) = receiver.wait_for(1)
    assert delivered.headers["webhook-id"] == created.json()["id"]
    assert json.loads(delivered.body) == payload


def test_the_image_health_check_passes(container: Running) -> None:
    done = podman("healthcheck", "run", container.name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_sigterm_stops_it_cleanly_and_its_data_stays_in_the_volume(
    container: Running, image: str
) -> None:
    must(podman("stop", "--time", "30", container.name))
    exit_code = must(podman("inspect", "--format", "{{.State.ExitCode}}", container.name))
    assert exit_code.strip() == "0"
    owners = must(
        podman(
            *("run", "--rm", *limits(), "--volume", f"{container.volume}:/data"),
            *("--entrypoint", "stat", image, "-c", "%u %n", "/data/tidings.db"),
        )
    )
    assert owners.split() == [UID, "/data/tidings.db"]


def test_the_image_runs_as_its_own_user_without_the_test_extras(image: str) -> None:
    probe = "import importlib.util as u, os; print(os.getuid(), u.find_spec('pytest') is None)"
    found = must(podman("run", "--rm", *limits(), "--entrypoint", "python3", image, "-c", probe))
    assert found.split() == [UID, "True"]
