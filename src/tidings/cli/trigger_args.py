"""The `tidings trigger` command line (the command itself is client/trigger.py)."""

from __future__ import annotations

import argparse

from tidings.client import samples
from tidings.client.trigger import SECRET_ENV


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "Send a correctly signed sample event of a provider to a URL."
    parser = commands.add_parser("trigger", help=summary, description=summary)
    parser.add_argument(
        "type", nargs="?", metavar="TYPE", help=f"source type: {', '.join(samples.PROVIDERS)}"
    )
    parser.add_argument(
        "event",
        nargs="?",
        metavar="EVENT",
        help="sample event (see --list); default: the type's first",
    )
    parser.add_argument("--to", metavar="URL", help="where to POST it: the source's ingest URL")
    parser.add_argument("--secret", help=f"the source's secret [env {SECRET_ENV}]")
    parser.add_argument("--list", action="store_true", help="list types and their events")
    group = parser.add_argument_group("hmac, api-key and basic-auth sources (their config keys)")
    group.add_argument("--header", help="signature or key header (hmac: required)")
    group.add_argument("--prefix", help="text before the digest or key, e.g. 'sha256='")
    group.add_argument("--algorithm", help="hmac: sha1, sha256 (default) or sha512")
    group.add_argument("--encoding", help="hmac: hex (default) or base64")
    group.add_argument("--id-header", help="header for the delivery id [Idempotency-Key]")
