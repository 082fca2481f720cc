"""Per-application admission for message creation.

Requests of one application beyond a few at a time queue here, cheaply, instead of
in front of the database writer, so a flood from one application cannot delay
every other application's messages.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from tidings.domain.errors import Conflict

# Enough to keep the group-commit writer busy for one application on its own.
PER_APPLICATION = 8


class MessageGate:
    def __init__(self, per_application: int = PER_APPLICATION) -> None:
        self._limit = per_application
        self._gates: dict[int, asyncio.Semaphore] = {}
        self._users: dict[int, int] = {}
        self._keys_in_flight: set[tuple[int, str]] = set()

    @property
    def applications_held(self) -> int:
        """How many applications have a request in flight or waiting: the gate forgets
        an application once its last request ends, so this is bounded by the load."""
        return len(self._gates)

    def admit(self, app_key: int, idempotency_key: str | None = None) -> Admission:
        """Hold a place for one message of the application (`async with`). A second
        request with an idempotency key still in flight in this process gets 409 (the
        PostgreSQL backend extends that across processes)."""
        return Admission(self, app_key, idempotency_key)

    def _enter(self, app_key: int, idempotency_key: str | None) -> asyncio.Semaphore:
        if idempotency_key is not None:
            held = (app_key, idempotency_key)
            if held in self._keys_in_flight:
                raise Conflict("the idempotency-key is in use by a request still in progress")
            self._keys_in_flight.add(held)
        gate = self._gates.get(app_key)
        if gate is None:
            gate = self._gates[app_key] = asyncio.Semaphore(self._limit)
        self._users[app_key] = self._users.get(app_key, 0) + 1
        return gate

    def _leave(self, app_key: int, idempotency_key: str | None) -> None:
        self._users[app_key] -= 1
        if not self._users[app_key]:  # forget idle applications
            del self._users[app_key], self._gates[app_key]
        if idempotency_key is not None:
            self._keys_in_flight.discard((app_key, idempotency_key))


class Admission:
    """One request's place (a plain class: this runs for every message)."""

    __slots__ = ("_app_key", "_gate", "_idempotency_key", "_place")

    def __init__(self, gate: MessageGate, app_key: int, idempotency_key: str | None) -> None:
        self._gate = gate
        self._app_key = app_key
        self._idempotency_key = idempotency_key
        self._place: asyncio.Semaphore | None = None

    async def __aenter__(self) -> None:
        place = self._gate._enter(self._app_key, self._idempotency_key)
        try:
            await place.acquire()
        except BaseException:
            self._gate._leave(self._app_key, self._idempotency_key)
            raise
        self._place = place

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._place is not None:
            self._place.release()
            self._place = None
            self._gate._leave(self._app_key, self._idempotency_key)
