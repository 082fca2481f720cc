"""The flags each `tidings` command accepts, read from its --help: a deployment file
that passes a flag the command does not know fails only when someone starts it."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from tests.harness import tidings

ROOT = Path(__file__).resolve().parents[3]

_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


@functools.cache
def accepted_flags(command: str) -> frozenset[str]:
    return frozenset(_FLAG.findall(tidings(command, "--help")))


def unknown_flags(argv: list[str]) -> list[str]:
    """Flags in `tidings ARGV...` that its command's --help does not list."""
    command, *rest = argv
    given = [arg.split("=")[0] for arg in rest if arg.startswith("--")]
    return [flag for flag in given if flag not in accepted_flags(command)]
