"""The SQLite backend of the Store interface.

Writes go through the group-commit writer thread; reads use a separate
connection on the event loop's thread, which WAL lets run beside the writer.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from tidings.domain.access import Token
from tidings.domain.errors import Conflict, StorageUnavailable
from tidings.domain.internal import INTERNAL_UID_PREFIX
from tidings.domain.models import (
    Application,
    Attempt,
    AttemptFilter,
    AttemptResult,
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
from tidings.domain.statuses import DeliveryStatus
from tidings.storage import pagination, records
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import CreatedMessage, Idempotency, Store
from tidings.storage.sealing import KeyRing, key_file_ring
from tidings.storage.sqlite import messages, queue, rows, sealed, sources
from tidings.storage.sqlite.connection import connect, path_from_url
from tidings.storage.sqlite.engine.wal_watch import WalWatch
from tidings.storage.sqlite.engine.writer import Batch, GroupCommitWriter
from tidings.storage.sqlite.migrate import migrate

T = TypeVar("T")


_ADD_TOKEN = f"""
INSERT INTO token ({", ".join(records.TOKEN_COLUMNS)})
VALUES ({", ".join("?" * len(records.TOKEN_COLUMNS))})
"""
_SELECT_TOKEN = (
    "SELECT token.*, application.id AS app_id FROM token "
    "LEFT JOIN application ON application.key = token.app_key"
)
# A token already ended earlier stays ended at that earlier time.
_END_TOKEN = (
    "UPDATE token SET ends_at = CASE WHEN ends_at IS NULL OR ends_at > ? THEN ? ELSE ends_at END"
)


def _unique(what: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turn a UNIQUE violation inside a write into a Conflict naming `what`."""

    def wrap(operation: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(operation)
        def run(*args: Any) -> T:
            try:
                return operation(*args)
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"{what} already exists") from exc

        return run

    return wrap


class SqliteStore(Store):
    def __init__(self, url: str, keys: KeyRing | None = None) -> None:
        """`keys` seal secrets; without, the key file beside the database does
        (made the first time it is opened)."""
        self._path = path_from_url(url)
        self._keys = keys
        self._writer = GroupCommitWriter(self._path)
        self._read: sqlite3.Connection | None = None
        self._endpoints = EndpointCache()  # used by the writer thread only
        self._watch: WalWatch | None = None
        self._watch_failed = False

    # lifecycle ---------------------------------------------------------------
    async def open(self) -> None:
        try:
            conn = connect(self._path)
            migrate(conn)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open {self._path}: {exc}") from exc
        if self._keys is None:
            self._keys = key_file_ring(self._path.resolve().parent)
        self._read = conn
        self._writer.start()
        await self.seal_everything(only_plaintext=True)

    def _endpoint(self, row: sqlite3.Row) -> Endpoint:
        return rows.endpoint(row, self.keys)

    def _source(self, row: sqlite3.Row) -> Source:
        return rows.source(row, self.keys)

    async def seal_everything(self, only_plaintext: bool = False) -> int:
        keys = self.keys

        def seal(conn: sqlite3.Connection) -> int:
            return sealed.seal_rows(conn, keys, only_plaintext)

        return await self._writer.run(seal)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        self._writer.stop()
        if self._read is not None:
            self._read.close()
            self._read = None

    async def ping(self) -> None:
        self._rows("SELECT 1")
        self._writer.check()

    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109 - an idle bound
        """Another process's commit (`tidings api` beside `tidings worker`) ends the
        wait: see wal_watch.py. Without inotify, this waits out `timeout`."""
        if self._watch is None and not self._watch_failed:
            watch = WalWatch(self._path)
            if watch.start():
                self._watch = watch
            else:
                self._watch_failed = True
        if self._watch is None:
            await super().wait_for_work(timeout)
        else:
            await self._watch.wait(timeout)

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        if self._read is None:
            raise StorageUnavailable("the store is not open")
        try:
            return self._read.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StorageUnavailable(f"database read failed: {exc}") from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        found = self._rows(sql, params)
        return found[0] if found else None

    def _page(
        self,
        select: str,
        where: list[str],
        params: list[Any],
        walk: pagination.Walk,
        key: str,
        convert: Callable[[sqlite3.Row], T],
    ) -> Page[T]:
        if walk.cursor.after_key is not None:
            where = [*where, f"{key} {walk.comparison} ?"]
            params = [*params, walk.cursor.after_key]
        sql = f"{select} WHERE {' AND '.join(where) or '1'} ORDER BY {key} {walk.order} LIMIT ?"
        found = self._rows(sql, [*params, walk.fetch])
        return pagination.build_page(walk, [(row["key"], convert(row)) for row in found])

    # tokens ------------------------------------------------------------------
    async def add_token(self, token: Token) -> None:
        @_unique("that token")
        def add(conn: sqlite3.Connection) -> None:
            conn.execute(_ADD_TOKEN, records.token_params(token))

        await self._writer.run(add)

    async def find_token(self, token_hash: str) -> Token | None:
        row = self._one(_SELECT_TOKEN + " WHERE token.hash = ?", (token_hash,))
        return None if row is None else records.token(row)

    async def list_tokens(self) -> list[Token]:
        return [records.token(row) for row in self._rows(_SELECT_TOKEN + " ORDER BY token.rowid")]

    async def end_token(self, token_id: str, at: int) -> bool:
        def end(conn: sqlite3.Connection) -> bool:
            return conn.execute(_END_TOKEN + " WHERE id = ?", (at, at, token_id)).rowcount > 0

        return await self._writer.run(end)

    async def end_app_tokens(self, app_key: int, at: int, session_ids: Sequence[str] | None) -> int:
        where = " WHERE app_key = ?"
        params: list[object] = [at, at, app_key]
        if session_ids is not None:
            where += f" AND session_id IN ({','.join('?' * len(session_ids))})"
            params += session_ids

        def end(conn: sqlite3.Connection) -> int:
            return conn.execute(_END_TOKEN + where, params).rowcount

        return await self._writer.run(end)

    async def count_tokens(self) -> int:
        row = self._one("SELECT count(*) FROM token")
        return int(row[0]) if row else 0

    # applications ------------------------------------------------------------
    async def create_application(self, app: Application) -> Application:
        @_unique(f"an application with uid {app.uid!r}")
        def insert(conn: sqlite3.Connection) -> Application:
            cursor = conn.execute(
                "INSERT INTO application (id, uid, name, throttle_rate, metadata, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (app.id, app.uid, app.name, app.throttle_rate, rows.dump(app.metadata),
                 app.created_at, app.updated_at),
            )  # fmt: skip
            app.key = cursor.lastrowid or 0
            return app

        return await self._writer.run(insert)

    async def get_application(self, id_or_uid: str) -> Application | None:
        row = self._one(
            "SELECT * FROM application WHERE id = ? UNION ALL "
            "SELECT * FROM application WHERE uid = ? LIMIT 1",
            (id_or_uid, id_or_uid),
        )
        return rows.application(row) if row else None

    async def list_applications(
        self, limit: int, iterator: str | None, ascending: bool
    ) -> Page[Application]:
        walk = pagination.walk(iterator, ascending, limit)
        customers = ["(uid IS NULL OR substr(uid, 1, ?) != ?)"]
        prefix = INTERNAL_UID_PREFIX
        return self._page("SELECT * FROM application", customers, [len(prefix), prefix], walk,
                          "key", rows.application)  # fmt: skip

    async def update_application(self, app: Application) -> Application:
        @_unique(f"an application with uid {app.uid!r}")
        def update(conn: sqlite3.Connection) -> Application:
            conn.execute(
                "UPDATE application SET uid = ?, name = ?, throttle_rate = ?, metadata = ?, "
                "updated_at = ? WHERE key = ?",
                (app.uid, app.name, app.throttle_rate, rows.dump(app.metadata), app.updated_at,
                 app.key),
            )  # fmt: skip
            return app

        return await self._writer.run(update)

    async def delete_application(self, app: Application) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM application WHERE key = ?", (app.key,))

        await self._writer.run(delete)

    # event types -------------------------------------------------------------
    async def create_event_type(self, event_type: EventType) -> EventType:
        @_unique(f"an event type named {event_type.name!r}")
        def insert(conn: sqlite3.Connection) -> EventType:
            conn.execute(
                "INSERT INTO event_type (name, description, archived, deprecated, schemas, "
                "group_name, feature_flags, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*_event_type_values(event_type), event_type.created_at, event_type.updated_at),
            )
            return event_type

        return await self._writer.run(insert)

    async def get_event_type(self, name: str) -> EventType | None:
        row = self._one("SELECT * FROM event_type WHERE name = ?", (name,))
        return rows.event_type(row) if row else None

    async def list_event_types(
        self, limit: int, iterator: str | None, ascending: bool, include_archived: bool
    ) -> Page[EventType]:
        walk = pagination.walk(iterator, ascending, limit)
        where = [] if include_archived else ["archived = 0"]
        return self._page("SELECT * FROM event_type", where, [], walk, "key", rows.event_type)

    async def update_event_type(self, event_type: EventType) -> EventType:
        def update(conn: sqlite3.Connection) -> EventType:
            conn.execute(
                "UPDATE event_type SET description = ?, archived = ?, deprecated = ?, "
                "schemas = ?, group_name = ?, feature_flags = ?, updated_at = ? WHERE name = ?",
                (*_event_type_values(event_type)[1:], event_type.updated_at, event_type.name),
            )
            return event_type

        return await self._writer.run(update)

    async def delete_event_type(self, name: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM event_type WHERE name = ?", (name,))

        await self._writer.run(delete)

    # endpoints -----------------------------------------------------------------
    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        @_unique(f"an endpoint with uid {endpoint.uid!r}")
        def insert(conn: sqlite3.Connection) -> Endpoint:
            values = rows.endpoint_params(endpoint, self.keys)
            columns = ", ".join(values)
            marks = ", ".join(f":{name}" for name in values)
            cursor = conn.execute(f"INSERT INTO endpoint ({columns}) VALUES ({marks})", values)
            endpoint.key = cursor.lastrowid or 0
            messages.endpoints_changed(conn, [endpoint.app_key])
            return endpoint

        return await self._writer.run(insert)

    async def get_endpoint(self, app: Application, id_or_uid: str) -> Endpoint | None:
        row = self._one(
            "SELECT * FROM endpoint WHERE app_key = ? AND id = ? UNION ALL "
            "SELECT * FROM endpoint WHERE app_key = ? AND uid = ? LIMIT 1",
            (app.key, id_or_uid, app.key, id_or_uid),
        )
        return rows.endpoint(row, self.keys) if row else None

    async def list_endpoints(
        self, app: Application, limit: int, iterator: str | None, ascending: bool
    ) -> Page[Endpoint]:
        walk = pagination.walk(iterator, ascending, limit)
        return self._page(
            "SELECT * FROM endpoint", ["app_key = ?"], [app.key], walk, "key", self._endpoint
        )

    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        @_unique(f"an endpoint with uid {endpoint.uid!r}")
        def update(conn: sqlite3.Connection) -> Endpoint:
            values = rows.endpoint_params(endpoint, self.keys)
            for fixed in ("id", "app_key", "created_at"):
                values.pop(fixed)
            assignments = ", ".join(f"{name} = :{name}" for name in values)
            if not endpoint.disabled:
                # Re-enabled: the old run of failures no longer counts against it.
                conn.execute(
                    "UPDATE endpoint SET failing_since = NULL WHERE key = ? AND disabled = 1",
                    (endpoint.key,),
                )
            conn.execute(
                f"UPDATE endpoint SET {assignments} WHERE key = :key",
                {**values, "key": endpoint.key},
            )
            if not endpoint.disabled:
                queue.unpark(conn, endpoint.key)
            messages.endpoints_changed(conn, [endpoint.app_key])
            return endpoint

        return await self._writer.run(update)

    async def delete_endpoint(self, endpoint: Endpoint) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            queue.cancel_for_endpoint(conn, endpoint.key)
            conn.execute("DELETE FROM endpoint WHERE key = ?", (endpoint.key,))
            messages.endpoints_changed(conn, [endpoint.app_key])

        await self._writer.run(delete)

    # messages ------------------------------------------------------------------
    async def create_message(
        self,
        app: Application,
        message: Message,
        idempotency: Idempotency | None,
    ) -> CreatedMessage:
        create = functools.partial(messages.create, app=app, message=message,
                                   idempotency=idempotency, keys=self.keys,
                                   cache=self._endpoints)  # fmt: skip
        # create writes nothing before it may raise: no savepoint needed.
        return await self._writer.run(create, savepoint=False)

    async def get_message(self, app: Application, id_or_event_id: str) -> Message | None:
        row = self._one(
            "SELECT * FROM message WHERE app_key = ? AND id = ? UNION ALL "
            "SELECT * FROM (SELECT * FROM message WHERE app_key = ? AND event_id = ? "
            "ORDER BY key DESC LIMIT 1) LIMIT 1",
            (app.key, id_or_event_id, app.key, id_or_event_id),
        )
        return rows.message(row) if row else None

    async def list_messages(self, app: Application, query: MessageFilter) -> Page[Message]:
        walk = pagination.walk(query.iterator, False, query.limit)
        where, params = messages.filter_clauses(query)
        times, time_params = messages.time_clauses("created_at", query.before, query.after)
        return self._page(
            "SELECT * FROM message",
            ["app_key = ?", *where, *times],
            [app.key, *params, *time_params],
            walk,
            "key",
            rows.message,
        )

    # deliveries and attempts -----------------------------------------------------
    async def claim_due(
        self, limit: int, lease_ms: int, room: Mapping[int, int] | None = None
    ) -> list[ClaimedDelivery]:
        return await self._writer.run(
            functools.partial(queue.claim_due, limit=limit, lease_ms=lease_ms,
                              room=dict(room or {}), ring=self.keys),
            durable=False,  # a forgotten claim only means the delivery is claimed again
        )  # fmt: skip

    async def record_attempts(
        self, results: Sequence[AttemptResult], disable_after_ms: int
    ) -> RecordOutcome:
        return await self._writer.run(
            functools.partial(queue.record_attempts, results=results,
                              disable_after_ms=disable_after_ms),
            # Losing these to a power cut (not a crash) means the deliveries are sent
            # again, which at-least-once delivery allows; it saves an fsync per batch.
            durable=False,
        )  # fmt: skip

    async def extend_leases(self, deliveries: Sequence[ClaimedDelivery], lease_ms: int) -> None:
        await self._writer.run(
            functools.partial(queue.extend_leases, deliveries=deliveries, lease_ms=lease_ms),
            durable=False,
        )

    async def release(self, deliveries: Sequence[ClaimedDelivery], delay_ms: int = 0) -> None:
        await self._writer.run(
            functools.partial(queue.release, deliveries=deliveries, delay_ms=delay_ms),
            durable=False,
        )

    async def resend(self, message: Message, endpoint: Endpoint) -> None:
        await self._writer.run(
            functools.partial(queue.resend, app_key=message.app_key, msg_key=message.key,
                              endpoint_key=endpoint.key)
        )  # fmt: skip

    async def recover(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        return await self._writer.run(
            functools.partial(
                queue.recover,
                endpoint_key=endpoint.key,
                since=since,
                until=until,
            )
        )

    async def replay_missing(self, endpoint: Endpoint, since: int, until: int | None) -> int:
        return await self._writer.run(
            functools.partial(queue.replay_missing, endpoint=endpoint, since=since,
                              until=until)
        )  # fmt: skip

    async def next_due_at(self, skip_endpoints: Collection[int] = ()) -> int | None:
        skipping = ",".join("?" * len(skip_endpoints))
        row = self._one(
            f"SELECT min(next_check) FROM lane WHERE endpoint_key NOT IN ({skipping})",
            tuple(skip_endpoints),
        )
        return None if row is None or row[0] is None or row[0] >= queue.PARKED else int(row[0])

    async def list_attempts(self, app: Application, query: AttemptFilter) -> Page[Attempt]:
        walk = pagination.walk(query.iterator, False, query.limit)
        where, params = _attempt_clauses(app, query)
        return self._page(
            "SELECT attempt.* FROM attempt JOIN message ON message.key = attempt.msg_key",
            where, params, walk, "attempt.key", rows.attempt,
        )  # fmt: skip

    async def get_attempt(self, app: Application, msg: Message, attempt_id: str) -> Attempt | None:
        row = self._one(
            "SELECT * FROM attempt WHERE id = ? AND msg_key = ? AND app_key = ?",
            (attempt_id, msg.key, app.key),
        )
        return rows.attempt(row) if row else None

    async def list_destinations(
        self, app: Application, msg: Message, limit: int, iterator: str | None
    ) -> Page[Destination]:
        walk = pagination.walk(iterator, True, limit)

        def destination(row: sqlite3.Row) -> Destination:
            pending = row["d_status"] == DeliveryStatus.PENDING and row["d_due"] != queue.PARKED
            return Destination(
                endpoint=rows.endpoint(row, self.keys),
                status=DeliveryStatus(row["d_status"]),
                next_attempt_at=row["d_due"] if pending else None,
            )

        return self._page(
            "SELECT endpoint.*, delivery.status AS d_status, delivery.due_at AS d_due "
            "FROM delivery JOIN endpoint ON endpoint.key = delivery.endpoint_key",
            ["delivery.msg_key = ?", "delivery.app_key = ?"], [msg.key, app.key],
            walk, "endpoint.key", destination,
        )  # fmt: skip

    # sources -------------------------------------------------------------------
    async def create_source(self, source: Source, app: Application) -> Source:
        create = _unique(f"a source with uid {source.uid!r}")(sources.create)
        return await self._writer.run(lambda conn: create(conn, source, app, self.keys))

    async def get_source(self, id_or_uid: str) -> Source | None:
        row = self._one(
            "SELECT * FROM source WHERE id = ? UNION ALL "
            "SELECT * FROM source WHERE uid = ? LIMIT 1",
            (id_or_uid, id_or_uid),
        )
        return rows.source(row, self.keys) if row else None

    async def find_source_by_token(self, token: str, now: int) -> Source | None:
        # Found by keyed hash, under each key of the ring (the token is sealed).
        lookups = self.keys.lookups(token)
        marks = ",".join("?" * len(lookups))
        row = self._one(
            f"SELECT * FROM source WHERE token_lookup IN ({marks}) UNION ALL SELECT * FROM "
            f"source WHERE previous_token_lookup IN ({marks}) AND previous_token_expires_at > ? "
            "LIMIT 1",
            (*lookups, *lookups, now),
        )
        return rows.source(row, self.keys) if row else None

    async def list_sources(self, limit: int, iterator: str | None, ascending: bool) -> Page[Source]:
        walk = pagination.walk(iterator, ascending, limit)
        return self._page("SELECT * FROM source", [], [], walk, "key", self._source)

    async def update_source(self, source: Source) -> Source:
        update = _unique(f"a source with uid {source.uid!r}")(sources.update)
        return await self._writer.run(lambda conn: update(conn, source, self.keys))

    async def delete_source(self, source: Source) -> None:
        await self._writer.run(functools.partial(sources.delete, source=source))

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

    async def get_inbound(self, msg_key: int) -> InboundEvent | None:
        row = self._one("SELECT * FROM inbound_event WHERE msg_key = ?", (msg_key,))
        return rows.inbound(row) if row else None

    async def list_inbound(
        self, source: Source, after_msg_key: int, limit: int
    ) -> list[tuple[InboundEvent, Message]]:
        found = self._rows(
            "SELECT i.*, m.* FROM inbound_event i JOIN message m ON m.key = i.msg_key "
            "WHERE i.source_key = ? AND i.msg_key > ? ORDER BY i.msg_key LIMIT ?",
            (source.key, after_msg_key, limit),
        )
        return [(rows.inbound(row), rows.message(row)) for row in found]

    async def add_rejection(self, rejection: Rejection, keep: int) -> None:
        await self._writer.run(
            functools.partial(sources.add_rejection, rejection=rejection, keep=keep),
            durable=False,  # a diagnostic record; losing one to a power cut is harmless
        )

    async def list_rejections(self, source: Source, limit: int) -> list[Rejection]:
        found = self._rows(
            "SELECT * FROM source_rejection WHERE source_key = ? ORDER BY key DESC LIMIT ?",
            (source.key, limit),
        )
        return [rows.rejection(row) for row in found]


def _event_type_values(event_type: EventType) -> tuple[Any, ...]:
    return (
        event_type.name,
        event_type.description,
        int(event_type.archived),
        int(event_type.deprecated),
        rows.dump(event_type.schemas),
        event_type.group_name,
        rows.dump(event_type.feature_flags),
    )


def _attempt_clauses(app: Application, query: AttemptFilter) -> tuple[list[str], list[Any]]:
    where, params = messages.filter_clauses(
        MessageFilter(channel=query.channel, tag=query.tag, event_types=query.event_types)
    )
    where.append("attempt.app_key = ?")
    params.append(app.key)
    for column, value in (("attempt.msg_key", query.msg_key),
                          ("attempt.endpoint_key", query.endpoint_key)):  # fmt: skip
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.status is not None:
        where.append("attempt.status = ?")
        params.append(int(query.status))
    if query.status_code_class is not None:
        low = query.status_code_class
        where.append("attempt.response_status_code BETWEEN ? AND ?")
        params.extend([low, low + 99 if low else 0])
    times, time_params = messages.time_clauses("attempt.created_at", query.before, query.after)
    return where + times, params + time_params
