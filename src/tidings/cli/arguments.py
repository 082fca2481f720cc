"""The `tidings` command line: which flags each command takes, and the command line
of a supervised child process (built from the same table, so the two cannot drift)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tidings import __version__
from tidings.cli import listen_args, secret_keys, tokens, trigger_args
from tidings.config import SETTINGS, Settings, default_text, from_env, parse_value
from tidings.serve.child_flags import LISTEN_FD_FLAG, PARENT_PID_FLAG

# Settings each command accepts as flags; every flag also reads its TIDINGS_* variable.
_COMMON = ("database_url", "database_pool_size", "secret_key")
_SERVICE = (
    *_COMMON,
    "admin_token",
    "dev",
    "max_payload_bytes",
    "config",
    "config_allow_shared_write",
)
_API = ("host", "port", "public_docs", "header_timeout", "body_timeout", "max_connections")
_WORKER = (
    "retry_schedule",
    "request_timeout",
    "allowed_subnets",
    "worker_concurrency",
    "endpoint_concurrency",
    "shutdown_grace",
    "lease_seconds",
    "disable_after",
    "ca_file",
    "proxy_url",
    "client_cert_file",
    "client_key_file",
)
_COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "serve": (
        "Run the API and the delivery worker: in one process, or with --api-processes N "
        "as N API processes and a worker process below their priority.",
        (*_SERVICE, *_API, *_WORKER, "api_processes"),
    ),
    "api": ("Run only the HTTP API.", (*_SERVICE, *_API, "api_processes")),
    "worker": ("Run only the delivery worker.", (*_SERVICE, *_WORKER)),
    "migrate": ("Apply pending database migrations and exit.", _COMMON),
}


def _add_setting_flags(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for setting in SETTINGS:
        if setting.name not in names:
            continue
        default = default_text(setting) or "unset"
        # argparse formats help with %, so a literal percent sign must be doubled.
        help_text = f"{setting.help} [env {setting.env}; default {default}]".replace("%", "%%")
        if setting.is_switch:
            parser.add_argument(setting.flag, action="store_const", const="true", help=help_text)
        else:
            parser.add_argument(setting.flag, metavar=setting.name.upper(), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidings", description="Self-hosted webhooks.")
    parser.add_argument("--version", action="version", version=f"tidings {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (summary, settings) in _COMMANDS.items():
        _add_setting_flags(commands.add_parser(name, help=summary, description=summary), settings)
    for hidden in (LISTEN_FD_FLAG, PARENT_PID_FLAG):
        commands.choices["api"].add_argument(hidden, type=int, help=argparse.SUPPRESS)
    commands.choices["worker"].add_argument(PARENT_PID_FLAG, type=int, help=argparse.SUPPRESS)
    tokens.add_parser(commands, lambda parser: _add_setting_flags(parser, _COMMON))
    secret_keys.add_parser(commands, lambda parser: _add_setting_flags(parser, _COMMON))
    trigger_args.add_parser(commands)
    listen_args.add_parser(commands)
    return parser


def command_argv(command: str, args: argparse.Namespace) -> list[str]:
    """`tidings <command>` with the flags given to this process that `command`
    accepts (a supervised child's command line; the environment passes on as is)."""
    argv = [command]
    for setting in SETTINGS:
        value = getattr(args, setting.name, None)
        accepted = setting.name in _COMMANDS[command][1] and setting.name != "api_processes"
        if value is None or not accepted:
            continue
        # One word each (--flag=value): a value starting with "-" stays a value.
        argv.append(setting.flag if setting.is_switch else f"{setting.flag}={value}")
    return argv


def load_settings(args: argparse.Namespace) -> Settings:
    settings = from_env()
    overrides = {
        setting.name: parse_value(setting.name, value)
        for setting in SETTINGS
        if (value := getattr(args, setting.name, None)) is not None
    }
    return settings.with_overrides(**overrides)
