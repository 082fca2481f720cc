"""Per-application admission for message creation.

Requests of one application beyond a few at a time queue here, cheaply, instead of
in front of the database writer, so a flood from one application cannot delay
every other application's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

# Enough to keep the group-commit writer busy for one application on its own.
PER_APPLICATION = 8


class IngestGate:
    def __init__(self, per_application: int = PER_APPLICATION) -> None:
        self._limit = per_application
        self._gates: dict[int, asyncio.Semaphore] = {}
        self._users: dict[int, int] = {}

    @contextlib.asynccontextmanager
    async def admit(self, app_key: int) -> AsyncIterator[None]:
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
