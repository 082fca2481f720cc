"""The Intake port on PostgreSQL: new messages, inbound events and rejections, over
the SQL of messages.py and sources.py."""

from __future__ import annotations

from tidings.domain.models import Application, InboundEvent, Message, Rejection, Source
from tidings.storage.ports import CreatedMessage, Idempotency
from tidings.storage.postgres import messages, sources
from tidings.storage.postgres.access import PostgresAccess
from tidings.storage.postgres.connection import translated


class PostgresIntake(PostgresAccess):
    async def create_message(
        self,
        app: Application,
        message: Message,
        idempotency: Idempotency | None,
    ) -> CreatedMessage:
        pool = self._ready_pool()
        inline = self._announce.take_turn()  # the NOTIFY rides on the create's commit
        async with translated(pool):
            created = await messages.create_at_once(
                pool, app, message, idempotency, self._endpoints, inline
            )
        if created is not None:
            if created.deliveries and not inline:
                self._announce.queued()
            return created
        async with self._transaction() as conn:
            return await messages.create(
                conn, app, message, idempotency, self._announce, self.keys, self._endpoints
            )

    async def create_inbound(
        self,
        source: Source,
        app: Application,
        message: Message,
        inbound: InboundEvent,
        idempotency: Idempotency | None,
    ) -> CreatedMessage:
        async with self._transaction() as conn:
            return await sources.create_inbound(
                conn,
                source,
                app,
                message,
                inbound,
                idempotency,
                self._announce,
                self.keys,
                self._endpoints,
            )

    async def add_rejection(self, rejection: Rejection, keep: int) -> None:
        async with self._transaction() as conn:
            await sources.add_rejection(conn, rejection, keep)
