"""The vocabulary every inbound verifier shares: the request, the result, the error.

A verifier is pure: it sees the exact bytes and headers that arrived plus the time
they arrived, and either returns `Verified` or raises `VerificationFailed`. It does no
I/O, so the HTTP layer decides status codes and the tests need no server.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from tidings.domain.errors import TidingsError

Reason = Literal["missing header", "bad signature", "stale timestamp", "malformed header"]


class VerificationFailed(TidingsError):
    """An inbound request did not prove it came from the configured sender.

    `reason` is one of a few fixed phrases, safe to log and to count; `detail` names
    the header or the check involved. Neither ever contains a secret or a digest.
    """

    code = "verification_failed"

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason
        self.detail = detail


class Headers(Mapping[str, str]):
    """A read-only, case-insensitive view of request headers.

    Built from a mapping or from (name, value) pairs. A name repeated in pairs is
    joined with ", " as RFC 9110 allows, so a duplicated signature header reaches the
    verifier as one value that fails to parse or to match: it fails closed.
    """

    __slots__ = ("_items",)

    def __init__(self, source: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = source.items() if isinstance(source, Mapping) else source
        items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in items:
                value = f"{items[key][1]}, {value}"
            items[key] = (name, value)
        self._items = items

    @classmethod
    def from_asgi(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """From an ASGI scope's (name, value) byte pairs: the view every inbound
        request gets, built in one pass."""
        items: dict[str, tuple[str, str]] = {}
        for raw_name, raw_value in raw:
            # Servers lowercase names already; one that did not must still have a
            # repeated header joined, so that a duplicated signature fails closed.
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            if name in items:
                value = f"{items[name][1]}, {value}"
            items[name] = (name, value)
        headers = cls.__new__(cls)
        headers._items = items
        return headers

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        found = self._items.get(name.lower())
        return default if found is None else found[1]

    def lowered(self) -> Iterator[tuple[str, str]]:
        """(lowercased name, value) pairs, in arrival order."""
        return ((key, value) for key, (_, value) in self._items.items())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        # Header values can hold credentials (Authorization, X-Gitlab-Token): names only.
        return f"Headers({sorted(self)!r})"


@dataclass(frozen=True)
class InboundRequest:
    """One request as it arrived. `url` is the full public URL the sender called,
    `body` the exact raw bytes, `received_at` Unix seconds on our clock."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))


@dataclass(frozen=True)
class Verified:
    """A request that passed verification.

    `delivery_id` is the sender's own id for this delivery, stable across its retries,
    for deduplication; None when the scheme has none. `handshake`, when set, is the
    response (status, body, content type) the sender expects instead of a plain 2xx,
    e.g. Slack's url_verification challenge; such a request is not an event to store.
    """

    delivery_id: str | None
    handshake: tuple[int, bytes, str] | None = field(default=None)


@runtime_checkable
class Verifier(Protocol):
    def verify(self, request: InboundRequest) -> Verified: ...
