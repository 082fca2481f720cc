"""What the results were measured on: the machine and the versions of everything involved."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "tidings",
    "aiohttp",
    "uvloop",
    "fastapi",
    "uvicorn",
    "orjson",
    "celery",
    "kombu",
    "redis",
    "requests",
    "matplotlib",
    "asyncpg",
    "py-spy",
)


def _cpuinfo(field: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    return None


def _memory_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu_model": _cpuinfo("model name"),
        "memory_mb": _memory_mb(),
        "kernel": platform.release(),
        "platform": platform.platform(),
    }


def _command_output(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _redis_server() -> str | None:
    info = _command_output(["redis-cli", "-h", "127.0.0.1", "info", "server"]) or ""
    for line in info.splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1].strip()
    return None


def _postgres_server() -> str | None:
    return _command_output(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"]
    )


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    found["sqlite"] = sqlite3.sqlite_version
    found["redis_server"] = _redis_server()
    found["postgres_server"] = _postgres_server()
    return found
