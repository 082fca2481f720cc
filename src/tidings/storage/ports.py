"""The storage interface, as ports named for their consumers (Catalog, Intake,
Queue, History) and `Store`, all of them. Every caller depends on these, never on a
backend.

Each method is one unit of work: it commits before it returns, or raises and
commits nothing. Backends translate their driver's exceptions into
`tidings.domain.errors` at this boundary.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tidings.domain.access import Token
from tidings.domain.errors import NotFound, StorageUnavailable
from tidings.domain.models import (
    Application,
    Attempt,
    AttemptFilter,
    AttemptResult,
    Backlog,
    ClaimedDelivery,
    Destination,
    Endpoint,
    EventType,
    InboundEvent,
    Message,
    MessageFilter,
    Page,
    RecordOutcome,
    Rejection,
    Source,
)
from tidings.storage.sealing import KeyRing


@dataclass(frozen=True)
class Idempotency:
    """An idempotency key and the fingerprint of the request body it came with."""

    key: str
    fingerprint: str


class ApplicationChanged(NotFound):
    """Raised by `create_message`, before it writes anything, when the application
    was deleted or its uid changed since it was read: a caller that keeps
    applications in memory reads it again and retries."""


class SourceChanged(NotFound):
    """Raised by `create_inbound`, before it writes anything, when the source's
    verification settings (type, config, tokens) or its application are not those
    the event was verified with, or it was deleted: a caller that keeps sources in
    memory reads it again and verifies afresh."""


def verifies_alike(kept: Source, current: Source | None) -> bool:
    """Whether `current` (the committed row) verifies and routes as `kept` does."""
    return current is not None and (
        current.id,
        current.type,
        current.config,
        current.token,
        current.previous_token,
        current.previous_token_expires_at,
        current.app_key,
    ) == (
        kept.id,
        kept.type,
        kept.config,
        kept.token,
        kept.previous_token,
        kept.previous_token_expires_at,
        kept.app_key,
    )


@dataclass(frozen=True)
class CreatedMessage:
    message: Message
    # False when an earlier request with the same idempotency key created it.
    created: bool
    deliveries: int


@dataclass(frozen=True)
class MigrationStatus:
    """Where the schema stands: the migrations recorded in the database, and those
    of this release that are not, each by name ("0003_lanes"), in order. `applied`
    may also name migrations of a newer release, which this one leaves alone."""

    applied: tuple[str, ...]
    pending: tuple[str, ...]

    @property
    def current(self) -> bool:
        """Nothing left to apply (what a readiness probe asks)."""
        return not self.pending

    @classmethod
    def of(cls, recorded: Mapping[int, str], known: Iterable[tuple[int, str]]) -> MigrationStatus:
        """From the database's `{version: file name}` and this release's
        `(version, file name)` pairs."""
        applied = tuple(_bare(recorded[version]) for version in sorted(recorded))
        pending = tuple(_bare(name) for version, name in known if version not in recorded)
        return cls(applied, pending)


def _bare(file_name: str) -> str:
    return file_name.removesuffix(".sql")


class Lifecycle(Protocol):
    """Opening, closing and checking the store; every process that holds one uses these."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def seal_everything(self, only_plaintext: bool = False) -> int:
        """Seal every secret not sealed with the ring's first key (`only_plaintext`:
        only those still in the clear, as every start does); how many rows changed."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers."""

    @abc.abstractmethod
    async def migration_status(self) -> MigrationStatus:
        """The migrations applied and pending, read without applying any: on an
        open store one small query, and before `open()` as well (creating nothing,
        not even a missing SQLite file)."""


class Catalog(Protocol):
    """The objects customers and operators manage: tokens, applications, event types,
    endpoints and sources. The API reads and writes them; the receiving half looks
    sources up."""

    @abc.abstractmethod
    async def add_token(self, token: Token) -> None: ...

    @abc.abstractmethod
    async def find_token(self, token_hash: str) -> Token | None:
        """The token with this hash, whether or not it still works."""

    @abc.abstractmethod
    async def list_tokens(self) -> list[Token]: ...

    @abc.abstractmethod
    async def end_token(self, token_id: str, at: int) -> bool:
        """Make the token stop working at `at` (or earlier, if it already does);
        False when there is no such token."""

    @abc.abstractmethod
    async def end_app_tokens(self, app_key: int, at: int, session_ids: Sequence[str] | None) -> int:
        """End the application's tokens at `at` (only those of `session_ids`, when
        given); how many."""

    @abc.abstractmethod
    async def count_tokens(self) -> int: ...

    @abc.abstractmethod
    async def create_application(self, app: Application) -> Application:
        """Insert; Conflict if the uid is taken."""

    @abc.abstractmethod
    async def get_application(self, id_or_uid: str) -> Application | None: ...

    @abc.abstractmethod
    async def list_applications(
        self, limit: int, iterator: str | None, ascending: bool
    ) -> Page[Application]:
        """Customers' applications: Tidings' own (uid starting with
        `internal.INTERNAL_UID_PREFIX`) are left out, so pages stay full."""

    @abc.abstractmethod
    async def update_application(self, app: Application) -> Application:
        """Write every field of `app` (matched by key); Conflict if the uid is taken."""

    @abc.abstractmethod
    async def delete_application(self, app: Application) -> None:
        """Delete the application, its endpoints, messages, deliveries and attempts."""

    @abc.abstractmethod
    async def create_event_type(self, event_type: EventType) -> EventType: ...

    @abc.abstractmethod
    async def get_event_type(self, name: str) -> EventType | None: ...

    @abc.abstractmethod
    async def list_event_types(
        self, limit: int, iterator: str | None, ascending: bool, include_archived: bool
    ) -> Page[EventType]: ...

    @abc.abstractmethod
    async def update_event_type(self, event_type: EventType) -> EventType: ...

    @abc.abstractmethod
    async def delete_event_type(self, name: str) -> None: ...

    @abc.abstractmethod
    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint: ...

    @abc.abstractmethod
    async def get_endpoint(self, app: Application, id_or_uid: str) -> Endpoint | None: ...

    @abc.abstractmethod
    async def list_endpoints(
        self, app: Application, limit: int, iterator: str | None, ascending: bool
    ) -> Page[Endpoint]: ...

    @abc.abstractmethod
    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint: ...

    @abc.abstractmethod
    async def delete_endpoint(self, endpoint: Endpoint) -> None:
        """Delete it and cancel its undelivered deliveries; attempts stay readable."""

    @abc.abstractmethod
    async def create_source(self, source: Source, app: Application) -> Source:
        """Insert the source and its internal application (`app`) in one transaction;
        Conflict if the uid (of either) is taken."""

    @abc.abstractmethod
    async def get_source(self, id_or_uid: str) -> Source | None: ...

    @abc.abstractmethod
    async def find_source_by_token(self, token: str, now: int) -> Source | None:
        """The source whose current token is `token`, or whose previous token it is
        and has not expired by `now`."""

    @abc.abstractmethod
    async def list_sources(
        self, limit: int, iterator: str | None, ascending: bool
    ) -> Page[Source]: ...

    @abc.abstractmethod
    async def update_source(self, source: Source) -> Source:
        """Write every field of `source` but its id, app and creation time; Conflict
        if the uid is taken."""

    @abc.abstractmethod
    async def delete_source(self, source: Source) -> None:
        """Delete the source with its internal application: its endpoints, events,
        deliveries, attempts and rejections."""


class Intake(Protocol):
    """What arrives: a message sent through the API, an event received at an ingest URL
    (each committed with its deliveries before it is answered), and a refused request."""

    @abc.abstractmethod
    async def create_message(
        self,
        app: Application,
        message: Message,
        idempotency: Idempotency | None,
    ) -> CreatedMessage:
        """Commit the message, one delivery per selected endpoint and the idempotency
        record in one transaction. A repeated key with the same fingerprint returns
        the original message; with another fingerprint it raises InvalidInput.
        ApplicationChanged if `app` no longer exists with this uid. The endpoints chosen
        (domain/fanout.py) are those committed when the transaction runs."""

    @abc.abstractmethod
    async def create_inbound(
        self,
        source: Source,
        app: Application,
        message: Message,
        inbound: InboundEvent,
        idempotency: Idempotency | None,
    ) -> CreatedMessage:
        """`create_message` for an inbound event verified with `source` as given,
        also keeping `inbound` (its headers, delivery id) in the same transaction
        when the message is new. SourceChanged, before anything is written, if the
        committed source no longer `verifies_alike` the one given."""

    @abc.abstractmethod
    async def add_rejection(self, rejection: Rejection, keep: int) -> None:
        """Record a refused request, keeping only the source's latest `keep`."""


class Queue(Protocol):
    """The delivery queue, as the worker works it (claim, record, lease, release, wait)
    and as the API refills it (resend, recover, replay)."""

    @abc.abstractmethod
    async def claim_due(
        self, limit: int, lease_ms: int, room: Mapping[int, int] | None = None
    ) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries (pending and due, or sending with an
        expired lease) under a fresh claim id, taking turns between endpoints. At
        most `room[k]` go to endpoint k (none when 0): what the worker can start or
        hold for it now. Endpoints not in `room` take their share."""

    @abc.abstractmethod
    async def record_attempts(
        self, results: Sequence[AttemptResult], disable_after_ms: int
    ) -> RecordOutcome:
        """Store each attempt, then move its delivery on, but only where the claim id
        still matches: a worker whose lease was taken over cannot overwrite state.

        Also tracks each endpoint's run of failures: an endpoint that answered 410,
        or whose attempts have all failed for `disable_after_ms`, is disabled and its
        waiting deliveries are parked (kept for recovery)."""

    @abc.abstractmethod
    async def extend_leases(self, deliveries: Sequence[ClaimedDelivery], lease_ms: int) -> None:
        """Push the lease of deliveries still being attempted `lease_ms` into the future
        (only where the claim id still matches)."""

    @abc.abstractmethod
    async def release(self, deliveries: Sequence[ClaimedDelivery], delay_ms: int = 0) -> None:
        """Hand claimed deliveries back, due after `delay_ms`, without counting an
        attempt (shutdown, a paused endpoint, a full endpoint window)."""

    @abc.abstractmethod
    async def next_due_at(self, skip_endpoints: Collection[int] = ()) -> int | None:
        """When the earliest pending delivery falls due, for the worker's sleep; the
        deliveries of `skip_endpoints` (those it has no room for) not counted."""

    @abc.abstractmethod
    async def backlog(self) -> Backlog:
        """How many deliveries wait to be attempted, and the earliest due time among
        them: one read over the index of queued deliveries."""

    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109 - an idle bound
        """Return when another process may have queued deliveries, or after `timeout`.

        Backends with a cross-process signal (PostgreSQL's LISTEN/NOTIFY) override
        this; the default simply waits, and the worker polls.
        """
        await asyncio.sleep(timeout)

    @abc.abstractmethod
    async def resend(self, message: Message, endpoint: Endpoint) -> None:
        """Queue one more, manually triggered, delivery of the message to the endpoint."""

    @abc.abstractmethod
    async def recover(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        """Queue again the endpoint's failed deliveries of messages created in
        [since, until), with a fresh retry schedule; return how many."""

    @abc.abstractmethod
    async def replay_missing(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        """Queue deliveries to the endpoint for messages created in [since, until) that
        it never had one for (sent while it was disabled or before it existed) and that
        it subscribes to (domain/fanout.py); return how many."""


class History(Protocol):
    """What happened, read back: messages, attempts, destinations, inbound events and
    rejections."""

    @abc.abstractmethod
    async def get_message(self, app: Application, id_or_event_id: str) -> Message | None: ...

    @abc.abstractmethod
    async def list_messages(self, app: Application, query: MessageFilter) -> Page[Message]: ...

    @abc.abstractmethod
    async def list_attempts(self, app: Application, query: AttemptFilter) -> Page[Attempt]: ...

    @abc.abstractmethod
    async def get_attempt(
        self, app: Application, msg: Message, attempt_id: str
    ) -> Attempt | None: ...

    @abc.abstractmethod
    async def list_destinations(
        self, app: Application, msg: Message, limit: int, iterator: str | None
    ) -> Page[Destination]: ...

    @abc.abstractmethod
    async def get_inbound(self, msg_key: int) -> InboundEvent | None: ...

    @abc.abstractmethod
    async def list_inbound(
        self, source: Source, after_msg_key: int, limit: int
    ) -> list[tuple[InboundEvent, Message]]:
        """The source's events kept after message key `after_msg_key`, oldest first,
        each with its message (the body)."""

    @abc.abstractmethod
    async def list_rejections(self, source: Source, limit: int) -> list[Rejection]:
        """The source's most recent rejections, newest first."""


class Store(Lifecycle, Catalog, Intake, Queue, History, abc.ABC):
    """Persistent state of Tidings: every port, as each backend implements them. Code
    that needs only part of it takes the port it uses (the worker a `Queue`)."""

    # The ring that seals secrets (sealing.py); set by the backend, at the latest
    # when it opens.
    _keys: KeyRing | None = None

    @property
    def keys(self) -> KeyRing:
        if self._keys is None:
            raise StorageUnavailable("the store has no secret key (it is not open)")
        return self._keys
