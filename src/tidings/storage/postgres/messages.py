"""Creating a message on PostgreSQL: idempotency, eventId deduplication, fan-out.

Everything here runs inside one transaction of the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tidings.domain.errors import Conflict, InvalidInput
from tidings.domain.fanout import select_endpoints
from tidings.domain.models import Application, Endpoint, Message
from tidings.storage.endpoint_cache import EndpointCache
from tidings.storage.ports import ApplicationChanged, CreatedMessage, Idempotency
from tidings.storage.postgres import lanes, rows
from tidings.storage.postgres.notify import CHANNEL, Announcer
from tidings.storage.sealing import KeyRing

# An eventId, like an idempotency key, deduplicates for this long.
DEDUP_WINDOW_MS = 24 * 3600 * 1000
# The first key of the two-key advisory locks that serialise messages sharing an
# eventId (two-key locks never collide with the migrations' one-key lock).
EVENT_ID_LOCK_SPACE = 0x65_76_69_64  # "evid"

# Taking the key first makes concurrent requests with one key race on this row:
# the loser's INSERT waits for the winner's transaction, then finds its row. An
# expired row (older than the window) is taken over in place.
_CLAIM_KEY = """
INSERT INTO idempotency (app_key, key, fingerprint, msg_key, created_at)
VALUES ($1, $2, $3, NULL, $4)
ON CONFLICT (app_key, key) DO UPDATE
    SET fingerprint = excluded.fingerprint, msg_key = NULL, created_at = excluded.created_at
    WHERE idempotency.created_at <= $5
RETURNING true
"""
IDEMPOTENCY_LOCK_SPACE = 0x69_64_65_6D  # "idem"
_TRY_LOCK_KEY = "SELECT pg_try_advisory_xact_lock($1, hashtext($2::bigint || ':' || $3::text))"
_EARLIER = "SELECT fingerprint, msg_key FROM idempotency WHERE app_key = $1 AND key = $2"
_ORIGINAL = f"""
SELECT {rows.columns(rows.MESSAGE)},
    (SELECT count(*) FROM delivery WHERE delivery.msg_key = message.key) AS deliveries
FROM message WHERE key = $1
"""

# SQLite serialises all writers; here two transactions could both find an eventId
# free, so each first takes a lock named after (application, eventId).
_LOCK_EVENT_ID = "SELECT pg_advisory_xact_lock($1, hashtext($2::bigint || ':' || $3::text))"
_EVENT_ID_TAKEN = """
SELECT EXISTS (SELECT 1 FROM message WHERE app_key = $1 AND event_id = $2 AND created_at > $3)
"""

# The application as it is now, and its endpoints unless the caller keeps those of
# this version ($2) already: one round trip either way.
_APPLICATION_ENDPOINTS = f"""
SELECT application.id AS app_id, application.uid AS app_uid,
    application.endpoints_version AS app_endpoints_version,
    {rows.columns(rows.ENDPOINT, "endpoint")}
FROM application LEFT JOIN endpoint ON endpoint.app_key = application.key
    AND application.endpoints_version IS DISTINCT FROM $2::bigint
WHERE application.key = $1
"""
_BUMP = """
UPDATE application SET endpoints_version = endpoints_version + 1 WHERE key = ANY($1::bigint[])
"""

# The message, its deliveries and the idempotency record's pointer, in one statement.
_INSERT = """
WITH inserted AS (
    INSERT INTO message (id, app_key, event_type, event_id, payload, channels, tags, created_at,
        trace_context)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $11)
    RETURNING key
), queued AS (
    INSERT INTO delivery (app_key, msg_key, endpoint_key, status, due_at, updated_at)
    SELECT $2, inserted.key, endpoint_key, 1, $8, $8
    FROM inserted, unnest($9::bigint[]) AS endpoint_key
), remembered AS (
    UPDATE idempotency SET msg_key = inserted.key FROM inserted
    WHERE idempotency.app_key = $2 AND idempotency.key = $10
)
SELECT key FROM inserted
"""


# See migration 0008: `create` in one call, for as long as nothing unusual happens.
_CREATE_AT_ONCE = """
SELECT tidings_create_message($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
    $16, $17, $18)
"""
_LOCK_SPACES = [IDEMPOTENCY_LOCK_SPACE, EVENT_ID_LOCK_SPACE, lanes.LANE_LOCK_SPACE]


async def create_at_once(
    pool: Any,
    app: Application,
    message: Message,
    idempotency: Idempotency | None,
    cache: EndpointCache,
    notify: bool,
) -> CreatedMessage | None:
    """A new message to the application's kept endpoints, in one statement that
    commits by itself, and with it a NOTIFY if `notify` and deliveries were queued;
    None, with nothing written, when the answer is anything but "created" (nothing
    kept, the application or its endpoints changed, the key is held or used, the
    eventId taken): the caller then runs `create`, which answers."""
    version = cache.version(app)
    kept = cache.get(app, version) if version is not None else None
    if version is None or kept is None:
        return None
    chosen = select_endpoints(kept, message)
    key = await pool.fetchval(
        _CREATE_AT_ONCE,
        message.id,
        app.key,
        app.id,
        app.uid,
        version,
        message.event_type,
        message.event_id,
        message.payload,
        message.channels,
        message.tags,
        message.created_at,
        [ep.key for ep in chosen],
        idempotency.key if idempotency else None,
        idempotency.fingerprint if idempotency else None,
        message.created_at - DEDUP_WINDOW_MS,
        _LOCK_SPACES,
        CHANNEL if notify else None,
        message.trace_context,
    )
    if key is None:
        return None
    message.key = key
    return CreatedMessage(message=message, created=True, deliveries=len(chosen))


async def create(
    conn: Any,
    app: Application,
    message: Message,
    idempotency: Idempotency | None,
    announce: Announcer,
    keys: KeyRing,
    cache: EndpointCache | None = None,
) -> CreatedMessage:
    if idempotency is not None and not await _claim_key(conn, app, idempotency, message):
        return await _replay(conn, app, idempotency)
    await _reject_duplicate_event_id(conn, app, message)
    chosen = select_endpoints(await _endpoints(conn, app, cache, keys), message)
    message.key = await conn.fetchval(
        _INSERT,
        message.id,
        app.key,
        message.event_type,
        message.event_id,
        message.payload,
        message.channels,
        message.tags,
        message.created_at,
        [ep.key for ep in chosen],
        idempotency.key if idempotency else None,
        message.trace_context,
    )
    if chosen:
        await lanes.wake(conn, [(ep.key, message.created_at) for ep in chosen])
        announce.owe(conn)
    return CreatedMessage(message=message, created=True, deliveries=len(chosen))


async def _endpoints(
    conn: Any, app: Application, cache: EndpointCache | None, keys: KeyRing
) -> Sequence[Endpoint]:
    """The application's endpoints as committed now: kept ones if still current."""
    kept_version = cache.version(app) if cache is not None else None
    found = await conn.fetch(_APPLICATION_ENDPOINTS, app.key, kept_version)
    if not found or (found[0]["app_id"], found[0]["app_uid"]) != (app.id, app.uid):
        raise ApplicationChanged(f"application {app.id!r} changed or was deleted")
    version = found[0]["app_endpoints_version"]
    kept = cache.get(app, version) if cache is not None else None
    if kept is not None:
        return kept
    endpoints = [rows.endpoint(row, keys) for row in found if row["key"] is not None]
    if cache is not None:
        cache.put(app, version, endpoints)
    return endpoints


async def endpoints_changed(conn: Any, app_keys: Iterable[int]) -> None:
    """Record, in the changing transaction, that these applications' endpoints changed
    (sorted keys: concurrent transactions lock the rows in one order)."""
    keys = sorted(set(app_keys))
    if keys:
        await conn.execute(_BUMP, keys)


async def _claim_key(
    conn: Any, app: Application, idempotency: Idempotency, message: Message
) -> bool:
    """True when this request owns the key; False when an earlier one does.

    A request that finds the key held by another still in progress (on any API
    process) gets 409 at once rather than waiting for it: the transaction that holds
    a key also holds an advisory lock named after it until it commits."""
    if not await conn.fetchval(_TRY_LOCK_KEY, IDEMPOTENCY_LOCK_SPACE, app.key, idempotency.key):
        raise Conflict("the idempotency-key is in use by a request still in progress")
    expired_before = message.created_at - DEDUP_WINDOW_MS
    claimed = await conn.fetchval(
        _CLAIM_KEY,
        app.key,
        idempotency.key,
        idempotency.fingerprint,
        message.created_at,
        expired_before,
    )
    return bool(claimed)


async def _replay(conn: Any, app: Application, idempotency: Idempotency) -> CreatedMessage:
    earlier = await conn.fetchrow(_EARLIER, app.key, idempotency.key)
    if earlier is None or earlier["msg_key"] is None:
        # Not reachable while keys are only ever claimed and filled in one transaction.
        raise Conflict("the idempotency-key is in use by a request still in progress")
    if earlier["fingerprint"] != idempotency.fingerprint:
        raise InvalidInput(
            "idempotency-key was already used with a different request body",
            field="idempotency-key",
            location="header",
        )
    original = await conn.fetchrow(_ORIGINAL, earlier["msg_key"])
    if original is None:
        raise Conflict("the message this idempotency-key created no longer exists")
    return CreatedMessage(
        message=rows.message(original), created=False, deliveries=original["deliveries"]
    )


async def _reject_duplicate_event_id(conn: Any, app: Application, message: Message) -> None:
    if message.event_id is None:
        return
    await conn.execute(_LOCK_EVENT_ID, EVENT_ID_LOCK_SPACE, app.key, message.event_id)
    window_start = message.created_at - DEDUP_WINDOW_MS
    if await conn.fetchval(_EVENT_ID_TAKEN, app.key, message.event_id, window_start):
        raise Conflict(f"a message with eventId {message.event_id!r} already exists")
