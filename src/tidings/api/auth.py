"""Bearer-token authentication.

The admin token from settings is compared in constant time; other tokens are
looked up by their SHA-256, so the database never holds a usable token.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from tidings.domain.errors import Unauthorized
from tidings.storage.base import Store


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    def __init__(self, store: Store, admin_token: str | None) -> None:
        self._store = store
        self._admin_hash = token_hash(admin_token).encode() if admin_token else None
        # Hashes already found in the database; tokens are never deleted in this version.
        self._known: set[str] = set()

    async def check(self, authorization: str | None) -> None:
        digest = _digest(authorization)
        if self._known_digest(digest):
            return
        if await self._store.has_token(digest):
            self._known.add(digest)
            return
        raise Unauthorized("invalid token")

    def knows(self, authorization: str) -> bool:
        """True when `authorization` carries a valid token, as far as this process
        knows without asking the database (the admin token, or one seen before)."""
        try:
            return self._known_digest(_digest(authorization))
        except Unauthorized:
            return False

    def _known_digest(self, digest: str) -> bool:
        if self._admin_hash is not None and hmac.compare_digest(digest.encode(), self._admin_hash):
            return True
        return digest in self._known


def _digest(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    return token_hash(token.strip())


async def require_token(request: Request) -> None:
    authenticator: Authenticator = request.app.state.authenticator
    await authenticator.check(request.headers.get("authorization"))
