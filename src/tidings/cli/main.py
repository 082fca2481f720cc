"""The `tidings` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from tidings.cli import completion
from tidings.cli.arguments import build_parser, load_settings
from tidings.config import Settings
from tidings.domain.errors import StorageUnavailable
from tidings.telemetry import logs, shared


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "completion":  # needs no settings: a shell loads it at each start
        print(completion.script(args.shell, parser), end="")
        return
    try:
        settings = load_settings(args)
    except ValueError as exc:
        sys.exit(f"tidings: {exc}")
    logs.configure(settings.log_format, settings.log_level)
    if _supervises_api_processes(args, settings):
        shared.prepare()  # before anything makes a metric: see telemetry/shared.py
    # Imported once the arguments are good: `--version`, `--help` and a bad flag
    # answer without loading the server.
    from tidings.cli import commands

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        try:
            runner.run(commands.dispatch(args, settings))
        except StorageUnavailable as exc:  # said plainly, not as a traceback
            sys.exit(f"tidings: {exc}")


def _supervises_api_processes(args: argparse.Namespace, settings: Settings) -> bool:
    """Whether this process starts API processes that answer one port together
    (their metrics must then be summed across them)."""
    child = getattr(args, "listen_fd", None) is not None
    return args.command in ("serve", "api") and settings.api_processes > 1 and not child


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return None
    return uvloop.new_event_loop
