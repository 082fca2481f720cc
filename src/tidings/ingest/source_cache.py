"""Sources by ingest URL token, with their application and verifier, kept in memory.

Receiving is the hot path of the inbound half: without this, every request reads
its source and its application and builds a verifier. What is kept here is never
trusted for a write: `Store.create_inbound` checks, in the event's own transaction,
that the committed source still verifies alike (`verifies_alike`), and the caller
then forgets the entry, reads it again and verifies afresh. So an event is never
kept under a rotated secret or a deleted source, whichever process changed it.

An entry is read again once it is `MAX_AGE_SECONDS` old. A refusal is never given
from a kept entry (`KnownSource.kept`): the caller reads the source again first, so
a secret changed a moment ago is honoured at once. Only a handshake answer, which
writes nothing, may come from an entry up to that old. Unknown tokens are never
kept, so a new source answers at once.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from tidings.domain.clock import now_ms
from tidings.domain.internal import source_app_uid
from tidings.domain.models import Application, Source
from tidings.ingest.sources import verifier_of
from tidings.ingest.verify import Verifier
from tidings.storage.ports import Catalog

MAX_AGE_SECONDS = 1.0
# Tokens kept at most; the longest kept is dropped first.
MAX_TOKENS = 10_000


@dataclass(frozen=True)
class KnownSource:
    source: Source
    app: Application
    # None when the stored config is one this release no longer accepts (`problem`).
    verifier: Verifier | None
    problem: str = ""
    read_at: float = field(default_factory=time.monotonic)
    # True when this came from memory rather than from the store just now.
    kept: bool = False


class SourceCache:
    def __init__(self, store: Catalog, limit: int = MAX_TOKENS) -> None:
        self._store = store
        self._limit = limit
        self._kept: dict[str, KnownSource] = {}

    async def find(self, token: str) -> KnownSource | None:
        """The source whose ingest URL has `token`, with its application."""
        kept = self._kept.get(token)
        if kept is not None and _usable(kept, token):
            return kept
        found = await self._read(token)
        self._kept.pop(token, None)
        if found is not None:
            if len(self._kept) >= self._limit:
                del self._kept[next(iter(self._kept))]
            self._kept[token] = dataclasses.replace(found, kept=True)
        return found

    def forget(self, token: str) -> None:
        self._kept.pop(token, None)

    async def _read(self, token: str) -> KnownSource | None:
        source = await self._store.find_source_by_token(token, now_ms())
        if source is None:
            return None
        app = await self._store.get_application(source_app_uid(source.id))
        if app is None:  # deleted between the two reads
            return None
        try:
            return KnownSource(source, app, verifier_of(source))
        except ValueError as exc:
            return KnownSource(source, app, None, str(exc))


def _usable(kept: KnownSource, token: str) -> bool:
    """Young enough; and a rotated-out token works until its expiry, not until the
    entry is read again."""
    if time.monotonic() - kept.read_at >= MAX_AGE_SECONDS:
        return False
    expires_at = kept.source.previous_token_expires_at
    return token == kept.source.token or (expires_at is not None and expires_at > now_ms())
