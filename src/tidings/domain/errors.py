"""The one error hierarchy of Tidings.

Third-party exceptions (sqlite3, aiohttp, asyncpg, pydantic) are translated into
these at the boundary where they occur, so callers only ever handle these.
"""

from __future__ import annotations


class TidingsError(Exception):
    """Base of every error Tidings raises on purpose."""

    code = "error"


class NotFound(TidingsError):
    """The object does not exist, or belongs to another application."""

    code = "not_found"


class Conflict(TidingsError):
    """The request clashes with existing state (a taken uid, an in-flight idempotency key)."""

    code = "conflict"


class InvalidInput(TidingsError):
    """The request is well-formed JSON but asks for something impossible."""

    code = "validation"

    def __init__(self, detail: str, field: str | None = None, location: str = "body") -> None:
        super().__init__(detail)
        self.field = field
        # Where the field is: "body", "query", "header" or "path" (the 422's `loc`).
        self.location = location


class PayloadTooLarge(TidingsError):
    code = "payload_too_large"


class Unauthorized(TidingsError):
    code = "authentication_failed"


class Forbidden(TidingsError):
    """The token is valid but its kind or capabilities do not cover this route."""

    code = "forbidden"


class StorageUnavailable(TidingsError):
    """The database could not be reached or could not commit; nothing was acknowledged."""

    code = "storage_unavailable"


class DestinationBlocked(TidingsError):
    """An endpoint URL resolves to an address the SSRF policy forbids."""

    code = "destination_blocked"
