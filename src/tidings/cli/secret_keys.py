"""`tidings secrets new-key | rotate-key`: the keys that seal secrets at rest."""

from __future__ import annotations

import argparse

from tidings.config import Settings, key_ring
from tidings.storage import open_store
from tidings.storage.sealing import new_key


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`secrets new-key | rotate-key` (rotate-key's database flags come from tidings.config)."""
    secrets = commands.add_parser("secrets", help="Manage the keys that seal secrets at rest.")
    actions = secrets.add_subparsers(dest="secrets_command", required=True)
    actions.add_parser(
        "new-key", help="Print a new key, to put first in TIDINGS_SECRET_KEY (comma-separated)."
    )
    actions.add_parser(
        "rotate-key",
        help="Seal every secret again with the first key of TIDINGS_SECRET_KEY; afterwards "
        "the other keys can be dropped. Every process must have the new ring first.",
    )


async def run(args: argparse.Namespace, settings: Settings) -> None:
    if args.secrets_command == "new-key":
        print(new_key())
        return
    store = open_store(settings.database_url, keys=key_ring(settings))
    await store.open()
    try:
        changed = await store.seal_everything()
    finally:
        await store.close()
    print(f"sealed {changed} rows again with the first key")
