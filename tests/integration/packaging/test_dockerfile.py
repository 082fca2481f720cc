"""The Dockerfile and its build context, read as text: what the image must and must
not contain. test_image.py builds and runs it (opt-in, where podman works)."""

from __future__ import annotations

import re

from tests.integration.packaging.flags import ROOT, unknown_flags

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    """Arguments of every `NAME ...` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return re.findall(rf"^{name} (.+)$", joined, re.MULTILINE)


def test_the_base_image_is_an_argument_defaulting_to_official_python_3_11() -> None:
    assert instructions("ARG")[0] == "BASE_IMAGE=python:3.11-slim-bookworm"
    assert instructions("FROM") == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]


def test_only_locked_runtime_dependencies_are_installed() -> None:
    installs = [run for run in instructions("RUN") if "pip install" in run]
    assert len(installs) == 2
    assert "--require-hashes" in installs[0] and "-r /tmp/run.lock" in installs[0]
    assert "--no-deps" in installs[1]
    assert "test.lock" not in DOCKERFILE and "[test]" not in DOCKERFILE


def test_the_image_runs_tidings_as_a_non_root_user_with_a_data_volume() -> None:
    assert instructions("USER") == ["tidings:tidings"]
    assert instructions("VOLUME") == ['["/var/lib/tidings"]']
    assert "TIDINGS_DATABASE_URL=sqlite:////var/lib/tidings/tidings.db" in DOCKERFILE
    assert instructions("ENTRYPOINT") == ['["tidings"]']
    assert instructions("CMD") == ['["serve"]']
    assert unknown_flags(["serve"]) == []


def test_the_health_check_asks_the_api_for_liveness() -> None:
    (check,) = instructions("HEALTHCHECK")
    assert "/livez" in check and "urllib.request" in check


def test_the_build_context_admits_only_what_installs_tidings() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    # Everything excluded first, so .venv, .tidings (a database and its key) and .git
    # cannot be sent to a builder by accident.
    assert rules[0] == "*"
    admitted = {rule[1:] for rule in rules if rule.startswith("!")}
    assert admitted == {"pyproject.toml", "README.md", "requirements/run.lock", "src/"}
