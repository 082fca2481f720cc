"""The commands of an argparse parser as a tree: each sub-command's words and its
parser. Setting flags are attached by walking it (cli/arguments.py), and shell
completions are written from it (cli/completion/)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator


def sub_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """`parser`'s sub-commands by name, in the order they were added; none for a leaf."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def walk(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """`(words, parser)` for `parser` and every sub-command below it, depth first:
    `((), tidings)`, `(("serve",), ...)`, `(("token", "create"), ...)`."""
    yield words, parser
    for name, child in sub_commands(parser).items():
        yield from walk(child, (*words, name))
