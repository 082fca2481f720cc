"""Each application's endpoints, kept between messages for as long as they are unchanged.

Every change to an application's endpoints (create, update, disable, delete, by
any process) bumps `application.endpoints_version` in the same transaction. A
message's transaction reads that version (one primary-key lookup) and uses the
kept list only when the version is the one it was read at; otherwise it reads the
endpoints again. So there is no staleness window: a message created after an
endpoint change has committed is fanned out according to the new state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tidings.domain.models import Application, Endpoint

# Applications kept at most; the longest kept is dropped first.
MAX_APPLICATIONS = 10_000


@dataclass(frozen=True)
class _Kept:
    app_id: str  # keys of deleted SQLite rows can be reused; ids never are
    version: int
    endpoints: tuple[Endpoint, ...]


class EndpointCache:
    """Not thread-safe: each backend uses it from one thread (SQLite's writer
    thread, PostgreSQL's event loop)."""

    def __init__(self, limit: int = MAX_APPLICATIONS) -> None:
        self._limit = limit
        self._kept: dict[int, _Kept] = {}

    def version(self, app: Application) -> int | None:
        """The version of the endpoints kept for `app`, if any."""
        kept = self._kept.get(app.key)
        return kept.version if kept is not None and kept.app_id == app.id else None

    def get(self, app: Application, version: int) -> Sequence[Endpoint] | None:
        """The endpoints kept for `app` if they are those of `version`."""
        kept = self._kept.get(app.key)
        if kept is None or kept.app_id != app.id or kept.version != version:
            return None
        return kept.endpoints

    def put(self, app: Application, version: int, endpoints: Sequence[Endpoint]) -> None:
        self._kept.pop(app.key, None)
        if len(self._kept) >= self._limit:
            del self._kept[next(iter(self._kept))]
        self._kept[app.key] = _Kept(app.id, version, tuple(endpoints))
