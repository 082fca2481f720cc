"""`tidings token create | list | revoke`: tokens managed on the database itself,
by whoever can reach it (the operator), never over the API."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from tidings.api import tokens
from tidings.config import Settings, key_ring
from tidings.domain.access import Token, TokenKind
from tidings.domain.clock import now_ms
from tidings.storage import Store, open_store

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd]?)")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`token create | list | revoke` (their database flags come from tidings.config)."""
    token = commands.add_parser("token", help="Manage API tokens.")
    actions = token.add_subparsers(dest="token_command", required=True)
    create = actions.add_parser("create", help="Create a bearer token and print it once.")
    create.add_argument("--name", default="cli", help="A label to remember the token by.")
    create.add_argument(
        "--app",
        help="Bind the token to this application (id or uid): it reaches that application's "
        "routes only. Without it: an admin token.",
    )
    create.add_argument(
        "--expires",
        type=duration,
        metavar="DURATION",
        help="Stop working after this long: 3600, 90m, 12h or 30d.",
    )
    actions.add_parser("list", help="List tokens (never their secrets).")
    revoke = actions.add_parser("revoke", help="Stop a token, in every process within seconds.")
    revoke.add_argument("id", help="The token's id (tok_...), as `tidings token list` shows.")


def duration(text: str) -> float:
    matched = _DURATION.fullmatch(text.strip())
    if matched is None or int(matched[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 3600, 90m, 12h or 30d: {text!r}"
        )
    return int(matched[1]) * _UNITS[matched[2] or "s"]


async def run(args: argparse.Namespace, settings: Settings) -> None:
    async with _store(settings) as store:
        if args.token_command == "create":
            await _create(store, args)
        elif args.token_command == "list":
            await _list(store)
        else:
            await _revoke(store, args.id)


async def _create(store: Store, args: argparse.Namespace) -> None:
    app = None
    if args.app:
        app = await store.get_application(args.app)
        if app is None:
            sys.exit(f"tidings token create: no application {args.app!r}")
    kind = TokenKind.ADMIN if app is None else TokenKind.APPLICATION
    secret, token = await tokens.issue(
        store,
        kind,
        args.name,
        app_key=None if app is None else app.key,
        lifetime_seconds=args.expires,
    )
    scope = "admin" if app is None else f"application {app.id}"
    print(f"created {token.id} ({scope}{_expiry(token)})", file=sys.stderr)
    print(secret)


async def _list(store: Store) -> None:
    now = now_ms()
    print(f"{'id':<27} {'kind':<12} {'application':<27} {'state':<9} {'expires':<20} name")
    for token in await store.list_tokens():
        app = "" if token.app_key is None else token.app_id or "(deleted)"
        expires = _when(token.expires_at) if token.expires_at else "never"
        print(
            f"{token.id:<27} {token.kind.value:<12} {app:<27} {_state(token, now):<9} "
            f"{expires:<20} {token.name}"
        )


async def _revoke(store: Store, token_id: str) -> None:
    if not await store.end_token(token_id, now_ms()):
        sys.exit(f"tidings token revoke: no token {token_id!r}")
    print(f"revoked {token_id}; every API process refuses it within seconds")


def _state(token: Token, now: int) -> str:
    if token.works_at(now):
        return "active"
    return "revoked" if token.ends_at is not None and token.ends_at <= now else "expired"


def _expiry(token: Token) -> str:
    return f", expires {_when(token.expires_at)}" if token.expires_at else ""


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[Store]:
    store = open_store(settings.database_url, keys=key_ring(settings))
    await store.open()
    try:
        yield store
    finally:
        await store.close()
