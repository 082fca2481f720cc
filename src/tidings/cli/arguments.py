"""The `tidings` command line: its commands, the setting flags each takes (as
tidings.config declares them), and the command line of a supervised child process
(from the same declarations, so the two cannot drift)."""

from __future__ import annotations

import argparse

from tidings import __version__
from tidings.cli import command_tree, listen_args, secret_keys, tokens, trigger_args
from tidings.cli.completion import add_parser as add_completion_parser
from tidings.config import SETTINGS, Setting, Settings, default_text, load, settings_for
from tidings.serve.child_flags import LISTEN_FD_FLAG, PARENT_PID_FLAG

_SERVERS = {
    "serve": "Run the API and the delivery worker: in one process, or with --api-processes N "
    "as N API processes and a worker process below their priority.",
    "api": "Run only the HTTP API.",
    "worker": "Run only the delivery worker.",
}
_MIGRATE = "Apply pending database migrations, listing each, and exit."
# A supervised child is one process: the supervisor alone runs --api-processes N.
_NOT_INHERITED = frozenset({"api_processes"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidings", description="Self-hosted webhooks.")
    parser.add_argument("--version", action="version", version=f"tidings {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in _SERVERS.items():
        commands.add_parser(name, help=summary, description=summary)
    for hidden in (LISTEN_FD_FLAG, PARENT_PID_FLAG):
        commands.choices["api"].add_argument(hidden, type=int, help=argparse.SUPPRESS)
    commands.choices["worker"].add_argument(PARENT_PID_FLAG, type=int, help=argparse.SUPPRESS)
    migrate = commands.add_parser("migrate", help=_MIGRATE, description=_MIGRATE)
    migrate.add_argument(
        "--status",
        action="store_true",
        help="Show the applied and pending migrations; apply nothing.",
    )
    tokens.add_parser(commands)
    secret_keys.add_parser(commands)
    trigger_args.add_parser(commands)
    listen_args.add_parser(commands)
    add_completion_parser(commands)
    for words, command in command_tree.walk(parser):
        _add_setting_flags(command, settings_for(" ".join(words)))
    return parser


def _add_setting_flags(parser: argparse.ArgumentParser, settings: tuple[Setting, ...]) -> None:
    for setting in settings:
        default = default_text(setting) or "unset"
        # argparse formats help with %, so a literal percent sign must be doubled.
        help_text = f"{setting.help} [env {setting.env}; default {default}]".replace("%", "%%")
        if setting.is_switch:
            parser.add_argument(setting.flag, action="store_const", const="true", help=help_text)
        else:
            parser.add_argument(setting.flag, metavar=setting.name.upper(), help=help_text)


def command_argv(command: str, args: argparse.Namespace) -> list[str]:
    """`tidings <command>` with the flags given to this process that `command`
    accepts (a supervised child's command line; the environment passes on as is)."""
    argv = [command]
    for setting in settings_for(command):
        value = getattr(args, setting.name, None)
        if value is None or setting.name in _NOT_INHERITED:
            continue
        # One word each (--flag=value): a value starting with "-" stays a value.
        argv.append(setting.flag if setting.is_switch else f"{setting.flag}={value}")
    return argv


def load_settings(args: argparse.Namespace) -> Settings:
    """The flags given on the command line, over the TIDINGS_* variables."""
    given = {
        setting.name: value
        for setting in SETTINGS
        if (value := getattr(args, setting.name, None)) is not None
    }
    return load(given)
