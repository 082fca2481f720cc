"""What a shell needs to complete `tidings`, read from its argparse parser: each
command's words, its sub-commands, its options and what their values can be."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from tidings.cli import command_tree
from tidings.config import SETTINGS

_BY_FLAG = {setting.flag: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]  # ("-h", "--help")
    help: str
    takes_value: bool
    choices: tuple[str, ...] = ()
    names_file: bool = False


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # () for `tidings` itself, ("token", "create")
    sub_commands: tuple[tuple[str, str], ...]  # (name, help)
    options: tuple[Option, ...]
    # Words a positional argument takes (`completion bash`), when argparse lists them.
    arguments: tuple[str, ...]


def commands(parser: argparse.ArgumentParser) -> tuple[Command, ...]:
    """Every command of `parser`, `tidings` itself first."""
    return tuple(_command(words, each) for words, each in command_tree.walk(parser))


def _command(words: tuple[str, ...], parser: argparse.ArgumentParser) -> Command:
    options: list[Option] = []
    arguments: list[str] = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        if action.option_strings:
            options.append(_option(action))
        elif action.choices is not None:
            arguments.extend(str(choice) for choice in action.choices)
    return Command(words, _sub_commands(parser), tuple(options), tuple(arguments))


def _sub_commands(parser: argparse.ArgumentParser) -> tuple[tuple[str, str], ...]:
    helps: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            # The help of each sub-command lives on these pseudo-actions.
            helps = {c.dest: summary(c.help or "") for c in action._choices_actions}
    return tuple((name, helps.get(name, "")) for name in command_tree.sub_commands(parser))


def _option(action: argparse.Action) -> Option:
    setting = next((_BY_FLAG[f] for f in action.option_strings if f in _BY_FLAG), None)
    choices = tuple(str(choice) for choice in action.choices or ())
    return Option(
        flags=tuple(action.option_strings),
        help=summary(setting.help if setting else action.help or ""),
        takes_value=action.nargs != 0,
        choices=choices or (setting.choices if setting else ()),
        names_file=setting.names_file if setting else False,
    )


def summary(help_text: str, limit: int = 80) -> str:
    """The first sentence of a help text, for a completion menu's one line."""
    sentence = help_text.replace("%%", "%").split(". ", 1)[0].rstrip(".")
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"
