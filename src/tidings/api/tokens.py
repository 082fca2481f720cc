"""Issuing tokens: the secret is shown once, and only its hash is stored."""

from __future__ import annotations

from collections.abc import Iterable

from tidings.api.auth import token_hash
from tidings.domain import ids
from tidings.domain.access import ALL_CAPABILITIES, Capability, Token, TokenKind
from tidings.domain.clock import now_ms
from tidings.storage.ports import Store


async def issue(
    store: Store,
    kind: TokenKind,
    name: str,
    *,
    app_key: int | None = None,
    lifetime_seconds: float | None = None,
    capabilities: Iterable[Capability] = ALL_CAPABILITIES,
    read_only: bool = False,
    session_id: str | None = None,
) -> tuple[str, Token]:
    """Store a new token; (the secret, to show once, and what was stored)."""
    if (kind == TokenKind.ADMIN) != (app_key is None):
        raise ValueError("an admin token has no application; the others have exactly one")
    secret = ids.new_token()
    now = now_ms()
    token = Token(
        id=ids.new_id(ids.TOKEN_ID),
        hash=token_hash(secret),
        name=name,
        kind=kind,
        created_at=now,
        app_key=app_key,
        capabilities=frozenset(capabilities),
        read_only=read_only,
        session_id=session_id,
        expires_at=None if lifetime_seconds is None else now + int(lifetime_seconds * 1000),
    )
    await store.add_token(token)
    return secret, token
