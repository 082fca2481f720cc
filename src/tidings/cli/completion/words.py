"""The facts every shell's script is written from, as plain words: per command
(its words after `tidings`, joined by spaces), its sub-commands, options, the
options whose value is the next word, and what those values can be."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tidings.cli.completion.shape import Command

# Written into scripts unquoted or in plain single quotes: only such words may be.
_PLAIN = re.compile(r"[A-Za-z0-9_.+-]*")
# Stands for "a file name" among an option's values.
FILE = "FILE"


def plain(word: str) -> str:
    if not _PLAIN.fullmatch(word):
        raise ValueError(f"not a plain word for a completion script: {word!r}")
    return word


def key(command: Command) -> str:
    """`token create`: how each script names a command."""
    return " ".join(plain(word) for word in command.words)


def sub_command_names(command: Command) -> list[str]:
    return [plain(name) for name, _ in command.sub_commands]


def arguments(command: Command) -> list[str]:
    return [plain(argument) for argument in command.arguments]


def flags(command: Command) -> list[str]:
    return [plain(flag) for option in command.options for flag in option.flags]


def value_flags(command: Command) -> list[str]:
    return [
        plain(flag) for option in command.options if option.takes_value for flag in option.flags
    ]


def values(command: Command) -> Iterator[tuple[str, list[str]]]:
    """`(flag, words)` for each option whose values are known: its choices, or [FILE]."""
    for option in command.options:
        words = [FILE] if option.names_file else [plain(choice) for choice in option.choices]
        if option.takes_value and words:
            for flag in option.flags:
                yield plain(flag), words
