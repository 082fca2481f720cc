"""Who a bearer token speaks for, and what it may do.

Three kinds of token:
- **admin**: everything (the operator's);
- **application**: every route of one application, nothing outside it (a sender's
  service that works for one customer);
- **portal**: one application, limited to the capabilities given when it was
  issued (`app_portal_access`), optionally read-only, always expiring (the
  customer's own view, in the portal).

A route states what it needs (`Need`); `Grant.may` decides. Objects of another
application are answered 404, as if they did not exist, so that ids do not leak
existence; routes outside a token's kind are answered 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TokenKind(StrEnum):
    ADMIN = "admin"
    APPLICATION = "application"
    PORTAL = "portal"


class Capability(StrEnum):
    """What a portal token may do, by the names Svix's SDK sends."""

    VIEW_BASE = "ViewBase"
    VIEW_ENDPOINT_SECRET = "ViewEndpointSecret"
    MANAGE_ENDPOINT_SECRET = "ManageEndpointSecret"
    MANAGE_TRANSFORMATIONS = "ManageTransformations"
    CREATE_ATTEMPTS = "CreateAttempts"
    MANAGE_ENDPOINT = "ManageEndpoint"


ALL_CAPABILITIES = frozenset(Capability)


class Need(StrEnum):
    """What a route asks of the token that calls it."""

    PUBLIC = "public"
    ADMIN = "admin"
    READ = "read"  # read the application's objects (secrets excepted)
    WRITE = "write"  # send messages, change the application itself
    MANAGE_ENDPOINTS = "manage-endpoints"
    VIEW_SECRET = "view-secret"
    ROTATE_SECRET = "rotate-secret"
    CREATE_ATTEMPTS = "create-attempts"  # resend, recover, replay, send an example
    LOG_OUT = "log-out"


# The capabilities that open each need to a portal token (any one suffices).
_PORTAL: dict[Need, frozenset[Capability]] = {
    Need.READ: frozenset({Capability.VIEW_BASE}),
    Need.MANAGE_ENDPOINTS: frozenset({Capability.MANAGE_ENDPOINT}),
    Need.VIEW_SECRET: frozenset(
        {
            Capability.VIEW_ENDPOINT_SECRET,
            Capability.MANAGE_ENDPOINT_SECRET,
            Capability.MANAGE_ENDPOINT,
        }
    ),
    Need.ROTATE_SECRET: frozenset({Capability.MANAGE_ENDPOINT_SECRET, Capability.MANAGE_ENDPOINT}),
    Need.CREATE_ATTEMPTS: frozenset({Capability.CREATE_ATTEMPTS}),
}
# What a read-only portal token may still do.
_READ_ONLY = frozenset({Need.READ, Need.VIEW_SECRET, Need.LOG_OUT})


@dataclass(frozen=True)
class Grant:
    """What the token of one request allows."""

    kind: TokenKind
    # The one application a non-admin token is bound to.
    app_key: int | None = None
    capabilities: frozenset[Capability] = ALL_CAPABILITIES
    read_only: bool = False
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == TokenKind.ADMIN

    def sees(self, app_key: int) -> bool:
        """Whether the application's objects exist for this token."""
        return self.app_key is None or self.app_key == app_key

    def may(self, need: Need) -> bool:
        if need == Need.PUBLIC or self.kind == TokenKind.ADMIN:
            return True
        if need == Need.ADMIN:
            return False
        if need == Need.LOG_OUT:
            return True
        if self.kind == TokenKind.APPLICATION:
            return True
        if self.read_only and need not in _READ_ONLY:
            return False
        return bool(_PORTAL.get(need, frozenset()) & self.capabilities)


ADMIN = Grant(TokenKind.ADMIN)


@dataclass(frozen=True)
class Token:
    """A stored token: only the SHA-256 of its secret is kept."""

    id: str
    hash: str
    name: str
    kind: TokenKind
    created_at: int
    app_key: int | None = None
    capabilities: frozenset[Capability] = ALL_CAPABILITIES
    read_only: bool = False
    session_id: str | None = None
    # Milliseconds since the epoch after which the token no longer works: its
    # expiry as issued, and when it was revoked (or expired by expire-all).
    expires_at: int | None = None
    ends_at: int | None = None
    # The bound application's public id, for showing (read with the token).
    app_id: str | None = None

    def works_at(self, now: int) -> bool:
        return all(limit is None or now < limit for limit in (self.expires_at, self.ends_at))

    def grant(self) -> Grant:
        return Grant(self.kind, self.app_key, self.capabilities, self.read_only, self.id)
