"""The `tidings` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from tidings.cli.arguments import build_parser, load_settings
from tidings.domain.errors import StorageUnavailable


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(args)
    except ValueError as exc:
        sys.exit(f"tidings: {exc}")
    # Imported once the arguments are good: `--version`, `--help` and a bad flag
    # answer without loading the server.
    from tidings.cli import commands

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        try:
            runner.run(commands.dispatch(args, settings))
        except StorageUnavailable as exc:  # said plainly, not as a traceback
            sys.exit(f"tidings: {exc}")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return None
    return uvloop.new_event_loop
