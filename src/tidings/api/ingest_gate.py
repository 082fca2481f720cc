"""Per-application admission for message creation.

Requests of one application beyond a few at a time queue here, cheaply, instead of
in front of the database writer, so a flood from one application cannot delay
every other application's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tidings.domain.errors import Conflict

# Enough to keep the group-commit writer busy for one application on its own.
PER_APPLICATION = 8


class IngestGate:
    def __init__(self, per_application: int = PER_APPLICATION) -> None:
        self._limit = per_application
        self._gates: dict[int, asyncio.Semaphore] = {}
        self._users: dict[int, int] = {}
        self._keys_in_flight: set[tuple[int, str]] = set()

    @contextlib.asynccontextmanager
    async def admit(self, app_key: int, idempotency_key: str | None = None) -> AsyncIterator[None]:
        """Hold a place for one message of the application. A second request with an
        idempotency key still in flight in this process gets 409 (the PostgreSQL
        backend extends that across processes)."""
        if idempotency_key is None:
            async with self._place(app_key):
                yield
            return
        held = (app_key, idempotency_key)
        if held in self._keys_in_flight:
            raise Conflict("the idempotency-key is in use by a request still in progress")
        self._keys_in_flight.add(held)
        try:
            async with self._place(app_key):
                yield
        finally:
            self._keys_in_flight.discard(held)

    @contextlib.asynccontextmanager
    async def _place(self, app_key: int) -> AsyncIterator[None]:
        gate = self._gates.get(app_key)
        if gate is None:
            gate = self._gates[app_key] = asyncio.Semaphore(self._limit)
        self._users[app_key] = self._users.get(app_key, 0) + 1
        try:
            async with gate:
                yield
        finally:
            self._users[app_key] -= 1
            if not self._users[app_key]:  # forget idle applications
                del self._users[app_key], self._gates[app_key]
