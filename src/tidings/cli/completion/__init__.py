"""`tidings completion bash|zsh|fish`: a shell's completion script for `tidings`,
written from the parser itself, so every command and flag (each setting's too) is
there as soon as it exists."""

from __future__ import annotations

import argparse

from tidings.cli.completion import bash, fish, zsh
from tidings.cli.completion.shape import commands

_WRITERS = {"bash": bash.script, "zsh": zsh.script, "fish": fish.script}


def add_parser(sub_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "Print the shell completion script of tidings for bash, zsh or fish."
    parser = sub_commands.add_parser("completion", help=summary, description=summary)
    parser.add_argument("shell", choices=tuple(_WRITERS), help="the shell to complete in")


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    return _WRITERS[shell](commands(parser))
