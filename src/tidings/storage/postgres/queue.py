"""The delivery queue on PostgreSQL: record, release, resend, recover, park.

Claims are in claim.py.

Every state change after a claim is fenced by the claim id, as on SQLite: a
worker whose lease was taken over records its attempt but moves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tidings.domain.clock import now_ms
from tidings.domain.fanout import select_endpoints
from tidings.domain.models import (
    AttemptResult,
    ClaimedDelivery,
    DisabledEndpoint,
    Endpoint,
    RecordOutcome,
)
from tidings.domain.outcomes import Verdict
from tidings.domain.statuses import DeliveryStatus
from tidings.storage.postgres import lanes, rows
from tidings.storage.postgres.messages import endpoints_changed
from tidings.storage.postgres.notify import Announcer

# Deliveries of a disabled endpoint wait here, out of the worker's sight, until
# the endpoint is enabled again; nothing is lost and no attempt is spent.
PARKED = 1 << 62

# Over the partial index of queued deliveries; parked ones (disabled endpoints) aside.
BACKLOG = f"""
SELECT count(*) AS pending, min(due_at) AS earliest FROM delivery
WHERE status IN (1, 3) AND due_at < {PARKED}
"""

# Attempts first, then the fenced advance, as one statement over parallel arrays.
# An attempt whose message was deleted meanwhile is dropped rather than failing
# the batch on the foreign key (which would re-send every other delivery in it).
# Every statement that updates a batch of deliveries locks them in key order first:
# a worker's lease renewal and its recording of outcomes touch overlapping rows at
# the same time, and in any other order the two could deadlock.
_LOCK_IN_KEY_ORDER = """
    SELECT delivery.key FROM delivery JOIN d ON delivery.key = d.key
    WHERE delivery.claim_id = d.claim_id ORDER BY delivery.key FOR UPDATE OF delivery
"""

RECORD = f"""
WITH attempts AS (
    INSERT INTO attempt (id, app_key, msg_key, endpoint_key, msg_id, endpoint_id, url, status,
        response_status_code, response, duration_ms, trigger_type, error, created_at, note)
    SELECT a.* FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
        $6::text[], $7::text[], $8::smallint[], $9::integer[], $10::text[], $11::integer[],
        $12::smallint[], $13::text[], $14::bigint[], $15::text[])
        AS a(id, app_key, msg_key, endpoint_key, msg_id, endpoint_id, url, status,
            response_status_code, response, duration_ms, trigger_type, error, created_at, note)
    WHERE EXISTS (SELECT 1 FROM message WHERE message.key = a.msg_key)
), d AS (
    SELECT * FROM unnest($16::bigint[], $17::bigint[], $18::smallint[], $19::bigint[],
        $20::bigint[]) AS d(key, claim_id, status, due_at, finished_at)
), locked AS ({_LOCK_IN_KEY_ORDER})
UPDATE delivery SET status = d.status, attempts = delivery.attempts + 1, due_at = d.due_at,
    claim_id = NULL, trigger_type = 0, updated_at = d.finished_at
FROM d JOIN locked ON locked.key = d.key
WHERE delivery.key = d.key
"""

# Each endpoint's run of failures: any success ends it, the first failure starts it.
_HEALTHY = """
UPDATE endpoint SET failing_since = NULL
WHERE key = ANY($1::bigint[]) AND failing_since IS NOT NULL
"""
_FAILING = """
UPDATE endpoint SET failing_since = f.since
FROM unnest($1::bigint[], $2::bigint[]) AS f(key, since)
WHERE endpoint.key = f.key AND endpoint.failing_since IS NULL
"""
# An endpoint that answered 410, or that has failed for the whole allowed
# period, is disabled; its waiting deliveries are parked, not failed.
_DISABLE = """
UPDATE endpoint SET disabled = true, updated_at = $3
FROM unnest($1::bigint[], $2::boolean[]) AS c(key, gone)
WHERE endpoint.key = c.key AND NOT endpoint.disabled
    AND (c.gone OR endpoint.failing_since <= $4)
RETURNING endpoint.key, endpoint.app_key, endpoint.id, endpoint.failing_since, c.gone
"""
_PARK_FOR_ENDPOINTS = f"""
UPDATE delivery SET due_at = {PARKED}, updated_at = $2
WHERE endpoint_key = ANY($1::bigint[]) AND status = 1
"""

_EXTEND = f"""
WITH d AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS d(key, claim_id)),
locked AS ({_LOCK_IN_KEY_ORDER})
UPDATE delivery SET due_at = $3 FROM locked
WHERE delivery.key = locked.key AND delivery.status = 3
"""

_RELEASE = f"""
WITH d AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS d(key, claim_id)),
locked AS ({_LOCK_IN_KEY_ORDER})
UPDATE delivery SET status = 1, due_at = $3, claim_id = NULL, updated_at = $4 FROM locked
WHERE delivery.key = locked.key
"""

# A manual resend restarts the retry schedule; its first attempt counts as manual.
_RESEND = """
INSERT INTO delivery (app_key, msg_key, endpoint_key, status, attempts, trigger_type, due_at,
    claim_id, updated_at)
VALUES ($1, $2, $3, 1, 0, 1, $4, NULL, $4)
ON CONFLICT (msg_key, endpoint_key) DO UPDATE SET status = 1, attempts = 0, trigger_type = 1,
    due_at = excluded.due_at, claim_id = NULL, updated_at = excluded.updated_at
"""

# Failed deliveries of messages created in [since, until) start over, as a manual trigger.
_RECOVER = """
UPDATE delivery SET status = 1, attempts = 0, trigger_type = 1, due_at = $2, claim_id = NULL,
    updated_at = $2
FROM message
WHERE delivery.endpoint_key = $1 AND delivery.status = 2 AND message.key = delivery.msg_key
    AND message.created_at >= $3 AND message.created_at < $4
"""
_NEVER_SENT = f"""
SELECT {rows.columns(rows.MESSAGE_META)} FROM message
WHERE app_key = $1 AND created_at >= $2 AND created_at < $3
    AND NOT EXISTS (SELECT 1 FROM delivery
                    WHERE delivery.msg_key = message.key AND delivery.endpoint_key = $4)
"""
# DO NOTHING: a resend or a new message may have queued one meanwhile.
_REPLAY = """
INSERT INTO delivery (app_key, msg_key, endpoint_key, status, trigger_type, due_at, updated_at)
SELECT $1, msg_key, $2, 1, 1, $3, $3 FROM unnest($4::bigint[]) AS msg_key
ON CONFLICT (msg_key, endpoint_key) DO NOTHING
"""
# Rows read per round trip while looking for messages an endpoint never had.
_SCAN_BATCH = 1000

_UNPARK = f"""
UPDATE delivery SET due_at = $2, updated_at = $2
WHERE endpoint_key = $1 AND status = 1 AND due_at = {PARKED}
"""

_CANCEL_FOR_ENDPOINT = """
UPDATE delivery SET status = 4, claim_id = NULL, updated_at = $2
WHERE endpoint_key = $1 AND status IN (1, 3)
"""


async def record_attempts(
    conn: Any, results: Sequence[AttemptResult], disable_after_ms: int
) -> RecordOutcome:
    """Runs inside the caller's transaction: attempts, advances and endpoint health
    commit together."""
    if not results:
        return RecordOutcome()
    attempts = _columns([_attempt_row(result) for result in results])
    advances = _columns([_advance_row(result) for result in results])
    await conn.execute(RECORD, *attempts, *advances)
    retries = [(r.delivery.endpoint_key, r.retry_at) for r in results if r.retry_at is not None]
    await lanes.wake(conn, retries)
    await _track_health(conn, results)
    return RecordOutcome(disabled=await _disable(conn, results, disable_after_ms))


async def _track_health(conn: Any, results: Sequence[AttemptResult]) -> None:
    # Sorted keys: concurrent batches lock endpoint rows in one order, not deadlock.
    healthy = sorted({r.delivery.endpoint_key for r in results if r.succeeded})
    failing = {r.delivery.endpoint_key: r.finished_at for r in results if not r.succeeded}
    failing_keys = sorted(key for key in failing if key not in healthy)
    if healthy:
        await conn.execute(_HEALTHY, healthy)
    if failing_keys:
        await conn.execute(_FAILING, failing_keys, [failing[key] for key in failing_keys])


async def _disable(
    conn: Any, results: Sequence[AttemptResult], disable_after_ms: int
) -> list[DisabledEndpoint]:
    candidates = _disable_candidates(results)
    if not candidates:
        return []
    keys = sorted(candidates)
    now = now_ms()
    disabled = await conn.fetch(
        _DISABLE, keys, [candidates[key] for key in keys], now, now - disable_after_ms
    )
    if disabled:
        await conn.execute(_PARK_FOR_ENDPOINTS, [row["key"] for row in disabled], now)
        await endpoints_changed(conn, [row["app_key"] for row in disabled])
    return [_disabled(row) for row in disabled]


def _disabled(row: rows.Row) -> DisabledEndpoint:
    if row["gone"]:
        return DisabledEndpoint(row["app_key"], row["id"], "the endpoint answered 410 Gone")
    reason = "every attempt failed"
    return DisabledEndpoint(row["app_key"], row["id"], reason, row["failing_since"])


def _disable_candidates(results: Sequence[AttemptResult]) -> dict[int, bool]:
    """Endpoint key -> whether it answered 410, for endpoints whose attempts failed."""
    candidates: dict[int, bool] = {}
    for result in results:
        if not result.succeeded:
            key = result.delivery.endpoint_key
            candidates[key] = candidates.get(key, False) or result.verdict == Verdict.GONE
    return candidates


def _columns(table: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows to parallel arrays, one per column, for unnest()."""
    return [list(column) for column in zip(*table, strict=True)]


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a receiver's response may contain one;
    # failing the insert would fail the whole batch, again on every retry.
    return value.replace("\x00", "\ufffd")


def _attempt_row(result: AttemptResult) -> tuple[Any, ...]:
    d = result.delivery
    status = DeliveryStatus.SUCCESS if result.succeeded else DeliveryStatus.FAIL
    error = None if result.error is None else _text(result.error)
    note = None if result.note is None else _text(result.note)
    return (
        result.attempt_id,
        d.app_key,
        d.msg_key,
        d.endpoint_key,
        d.msg_id,
        d.endpoint_id,
        d.url,
        int(status),
        result.status_code,
        _text(result.response),
        result.duration_ms,
        int(d.trigger_type),
        error,
        result.finished_at,
        note,
    )


def _outcome(result: AttemptResult) -> DeliveryStatus:
    if result.succeeded:
        return DeliveryStatus.SUCCESS
    return DeliveryStatus.PENDING if result.retry_at is not None else DeliveryStatus.FAIL


def _advance_row(result: AttemptResult) -> tuple[Any, ...]:
    d = result.delivery
    if result.verdict == Verdict.GONE:
        # Kept, not failed: the endpoint is disabled and this waits with the rest.
        return (d.delivery_key, d.claim_id, int(DeliveryStatus.PENDING), PARKED, result.finished_at)
    due = result.retry_at if result.retry_at is not None else result.finished_at
    return (d.delivery_key, d.claim_id, int(_outcome(result)), due, result.finished_at)


async def extend_leases(conn: Any, deliveries: Sequence[ClaimedDelivery], lease_ms: int) -> None:
    if not deliveries:
        return
    keys = [d.delivery_key for d in deliveries]
    claims = [d.claim_id for d in deliveries]
    await conn.execute(_EXTEND, keys, claims, now_ms() + lease_ms)


async def release(conn: Any, deliveries: Sequence[ClaimedDelivery], delay_ms: int) -> None:
    """Runs inside the caller's transaction."""
    if not deliveries:
        return
    keys = [d.delivery_key for d in deliveries]
    claims = [d.claim_id for d in deliveries]
    now = now_ms()
    await conn.execute(_RELEASE, keys, claims, now + delay_ms, now)
    await lanes.wake(conn, [(d.endpoint_key, now + delay_ms) for d in deliveries])


async def resend(
    conn: Any, app_key: int, msg_key: int, endpoint_key: int, announce: Announcer
) -> None:
    now = now_ms()
    await conn.execute(_RESEND, app_key, msg_key, endpoint_key, now)
    await _queued(conn, 1, endpoint_key, now, announce)


async def unpark(conn: Any, endpoint: Endpoint) -> None:
    """An enabled endpoint's parked deliveries fall due now (caller's transaction)."""
    now = now_ms()
    if _row_count(await conn.execute(_UNPARK, endpoint.key, now)):
        await lanes.wake(conn, [(endpoint.key, now)])


async def cancel_for_endpoint(conn: Any, endpoint: Endpoint) -> None:
    await conn.execute(_CANCEL_FOR_ENDPOINT, endpoint.key, now_ms())


async def recover(
    conn: Any, endpoint: Endpoint, since: int, until: int | None, announce: Announcer
) -> int:
    now = now_ms()
    status = await conn.execute(_RECOVER, endpoint.key, now, since, _end(until))
    return await _queued(conn, _row_count(status), endpoint.key, now, announce)


async def replay_missing(
    conn: Any,
    endpoint: Endpoint,
    since: int,
    until: int | None,
    announce: Announcer,
) -> int:
    """Runs inside the caller's transaction (a cursor needs one)."""
    chosen = []
    args = (endpoint.app_key, since, _end(until), endpoint.key)
    async for row in conn.cursor(_NEVER_SENT, *args, prefetch=_SCAN_BATCH):
        if select_endpoints([endpoint], rows.message(row, with_payload=False)):
            chosen.append(row["key"])
    if not chosen:
        return 0
    now = now_ms()
    status = await conn.execute(_REPLAY, endpoint.app_key, endpoint.key, now, chosen)
    return await _queued(conn, _row_count(status), endpoint.key, now, announce)


def _end(until: int | None) -> int:
    return until if until is not None else PARKED


def _row_count(status: str) -> int:
    """The count of an asyncpg command tag: "UPDATE 3", "INSERT 0 3"."""
    return int(status.rsplit(" ", 1)[1])


async def _queued(conn: Any, count: int, endpoint_key: int, now: int, announce: Announcer) -> int:
    """After `count` deliveries to one endpoint fell due now: wake its lane, and the
    workers."""
    if count:
        await lanes.wake(conn, [(endpoint_key, now)])
        announce.owe(conn)
    return count
