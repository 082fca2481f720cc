"""Applications by the id or uid that requests name them with, kept in memory.

Only message creation uses what is kept here, and it never trusts it blindly:
the message's own transaction checks that the application still exists with the
same id and uid (`ApplicationChanged` otherwise), and the caller then forgets
the entry and reads the application again. So a deleted or renamed application
is never written to from a stale entry, whichever process changed it.
"""

from __future__ import annotations

from tidings.domain.internal import is_internal_uid
from tidings.domain.models import Application
from tidings.storage.ports import Catalog

# Names kept at most; the longest kept is dropped first.
MAX_NAMES = 10_000


class ApplicationCache:
    def __init__(self, store: Catalog, limit: int = MAX_NAMES) -> None:
        self._store = store
        self._limit = limit
        self._kept: dict[str, Application] = {}

    async def find(self, id_or_uid: str) -> Application | None:
        """The customer application named `id_or_uid` (None for Tidings' own)."""
        found = self._kept.get(id_or_uid)
        if found is not None:
            return found
        found = await self._store.get_application(id_or_uid)
        if found is None or is_internal_uid(found.uid):
            return None
        if len(self._kept) >= self._limit:
            del self._kept[next(iter(self._kept))]
        self._kept[id_or_uid] = found
        return found

    def forget(self, id_or_uid: str) -> None:
        self._kept.pop(id_or_uid, None)
