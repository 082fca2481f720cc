"""The Intake port on SQLite: new messages, inbound events and rejections, written
by the group-commit writer over the SQL of messages.py and sources.py."""

from __future__ import annotations

import functools
import sqlite3

from tidings.domain.models import Application, InboundEvent, Message, Rejection, Source
from tidings.storage.ports import CreatedMessage, Idempotency
from tidings.storage.sqlite import messages, sources
from tidings.storage.sqlite.access import SqliteAccess
from tidings.storage.sqlite.engine.writer import Batch


class SqliteIntake(SqliteAccess):
    async def create_message(
        self,
        app: Application,
        message: Message,
        idempotency: Idempotency | None,
    ) -> CreatedMessage:
        create = functools.partial(
            messages.create,
            app=app,
            message=message,
            idempotency=idempotency,
            keys=self.keys,
            cache=self._endpoints,
        )
        # create writes nothing before it may raise: no savepoint needed.
        return await self._writer.run(create, savepoint=False)

    async def create_inbound(
        self,
        source: Source,
        app: Application,
        message: Message,
        inbound: InboundEvent,
        idempotency: Idempotency | None,
    ) -> CreatedMessage:
        # Every event of a source that reaches the writer in one group is written
        # together (sources.create_inbound_batch).
        write = sources.InboundWrite(source, app, message, inbound, idempotency)
        size = len(message.payload) + sum(map(len, inbound.headers.values()))
        batch = Batch(("inbound", source.key), write, self._create_inbound_batch, size)
        created: CreatedMessage = await self._writer.run_batched(batch)
        return created

    def _create_inbound_batch(
        self, conn: sqlite3.Connection, writes: list[sources.InboundWrite]
    ) -> list[CreatedMessage | Exception]:
        return sources.create_inbound_batch(conn, writes, self._endpoints, self.keys)

    async def add_rejection(self, rejection: Rejection, keep: int) -> None:
        await self._writer.run(
            functools.partial(sources.add_rejection, rejection=rejection, keep=keep),
            durable=False,  # a diagnostic record; losing one to a power cut is harmless
        )
