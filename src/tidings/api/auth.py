"""Bearer-token authentication: which token a request carries, and what it grants
(see `tidings.domain.access`).

The admin token from settings is compared in constant time; other tokens are
looked up by their SHA-256, so the database never holds a usable token. Each API
process keeps what it read of a token for at most `CACHE_SECONDS`, so a token
revoked in any process (or by `tidings token revoke`) stops working in every
process within that time; an expiry is checked on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from fastapi import Request

from tidings.api import access
from tidings.api.services import services_of
from tidings.domain.access import ADMIN, Grant, Token
from tidings.domain.clock import now_ms
from tidings.domain.errors import Forbidden, Unauthorized
from tidings.storage.ports import Catalog

CACHE_SECONDS = 2.0
# Tokens remembered per process; past this the memory starts over (a flood of
# distinct valid tokens costs database reads, never memory).
MAX_CACHED = 10_000
# Where a request's grant is kept, for the dependencies that follow.
GRANT = "tidings.grant"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    def __init__(self, store: Catalog, admin_token: str | None) -> None:
        self._store = store
        self._admin_hash = token_hash(admin_token).encode() if admin_token else None
        self._cache: dict[str, tuple[Token, Grant, float]] = {}

    async def grant(self, authorization: str | None) -> Grant:
        """What the request's token allows; Unauthorized when it allows nothing."""
        digest = _digest(authorization)
        if self._is_admin(digest):
            return ADMIN
        cached = self._cached(digest)
        if cached is None:
            token = await self._store.find_token(digest)
            if token is None:
                raise Unauthorized("invalid token")
            cached = self._remember(digest, token)
        token, grant = cached
        if not token.works_at(now_ms()):
            raise Unauthorized("the token has expired or was revoked")
        return grant

    def known_grant(self, authorization: str) -> Grant | None:
        """The token's grant as far as this process knows without asking the
        database (the admin token, or one read moments ago); None otherwise."""
        try:
            digest = _digest(authorization)
        except Unauthorized:
            return None
        if self._is_admin(digest):
            return ADMIN
        cached = self._cached(digest)
        if cached is None or not cached[0].works_at(now_ms()):
            return None
        return cached[1]

    def forget(self, which: Callable[[Token], bool]) -> None:
        """Drop tokens this process ended itself, so that they stop at once here."""
        for digest, (token, _, _) in list(self._cache.items()):
            if which(token):
                del self._cache[digest]

    def _is_admin(self, digest: str) -> bool:
        admin = self._admin_hash
        return admin is not None and hmac.compare_digest(digest.encode(), admin)

    def _cached(self, digest: str) -> tuple[Token, Grant] | None:
        found = self._cache.get(digest)
        if found is None or time.monotonic() - found[2] >= CACHE_SECONDS:
            return None
        return found[0], found[1]

    def _remember(self, digest: str, token: Token) -> tuple[Token, Grant]:
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        grant = token.grant()
        self._cache[digest] = (token, grant, time.monotonic())
        return token, grant


def _digest(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    return token_hash(token.strip())


async def require_token(request: Request) -> None:
    """Authenticate, and refuse (403) a route the token's kind or capabilities do
    not cover; whether the application is the token's is `deps.application`'s."""
    authenticator = services_of(request.app).authenticator
    grant = await authenticator.grant(request.headers.get("authorization"))
    request.scope[GRANT] = grant
    need = access.need_of(request.scope)
    if not grant.may(need):
        raise Forbidden(access.refusal(grant, need))


def grant_of(request: Request) -> Grant:
    grant: Grant = request.scope[GRANT]
    return grant
