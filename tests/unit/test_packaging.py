"""The lock files pin, with hashes, everything pyproject.toml asks for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pinned(lock: str) -> dict[str, str]:
    """Package name -> version, for entries that carry at least one hash."""
    text = (ROOT / "requirements" / lock).read_text()
    entries = re.findall(
        r"^([A-Za-z0-9_.\-]+)==([^ ;\\\n]+)[^\n]*\\\n\s+--hash=sha256:", text, re.MULTILINE
    )
    return {name.lower().replace("_", "-"): version for name, version in entries}


def names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[<>=!~\[; ]", item, maxsplit=1)[0].lower().replace("_", "-")
        for item in requirements
    }


@pytest.mark.parametrize(
    ("lock", "wanted"),
    [
        ("run.lock", PROJECT["dependencies"]),
        ("test.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
    ],
)
def test_every_dependency_is_pinned_with_hashes(lock: str, wanted: list[str]) -> None:
    missing = names(wanted) - set(pinned(lock))
    assert missing == set(), f"run `make lock`: {sorted(missing)} not in requirements/{lock}"


def test_exact_pins_in_pyproject_match_the_lock() -> None:
    locked = pinned("test.lock")
    for item in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]:
        name, _, version = item.partition("==")
        if version and ";" not in version:
            assert locked[name.lower()] == version.strip(), item
