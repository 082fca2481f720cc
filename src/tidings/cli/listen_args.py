"""The `tidings listen` command line: its arguments and defaults, apart from the
command itself (client/listen.py), so that building the parser imports neither aiohttp
nor rich; every `tidings` command would pay for them at start-up."""

from __future__ import annotations

import argparse

from tidings.client.listen_options import (
    DEFAULT_SERVER,
    DEFAULT_SOURCE,
    DEFAULT_TYPE,
    SERVER_ENV,
    TOKEN_ENV,
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "Forward a source's events, as they arrive, to a local URL."
    parser = commands.add_parser("listen", help=summary, description=summary)
    parser.add_argument(
        "--forward-to",
        required=True,
        metavar="URL",
        help="where each event is POSTed, e.g. http://localhost:3000/hooks",
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help=f"the Tidings API [env {SERVER_ENV}; default {DEFAULT_SERVER}]",
    )
    parser.add_argument("--token", help=f"an API token [env {TOKEN_ENV}]")
    parser.add_argument(
        "--source",
        default=DEFAULT_SOURCE,
        metavar="UID",
        help=f"the source to follow, by uid; created when missing [default {DEFAULT_SOURCE}]",
    )
    parser.add_argument(
        "--type",
        dest="source_type",
        metavar="TYPE",
        help=f"type of a source created now: github, stripe, ... [default {DEFAULT_TYPE}]",
    )
    parser.add_argument("--secret", help="the sender's signing secret, for a source created now")
