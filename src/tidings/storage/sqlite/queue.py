"""The delivery queue on SQLite: claim, record, release, resend.

Each function runs inside the group-commit writer's transaction.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Mapping, Sequence

from tidings.domain.clock import now_ms
from tidings.domain.fanout import select_endpoints
from tidings.domain.internal import delivery_kind
from tidings.domain.models import (
    AttemptResult,
    ClaimedDelivery,
    DisabledEndpoint,
    Endpoint,
    RecordOutcome,
)
from tidings.domain.outcomes import Verdict
from tidings.domain.statuses import DeliveryStatus, TriggerType
from tidings.storage.sealing import KeyRing
from tidings.storage.sqlite import lanes, rows
from tidings.storage.sqlite.messages import endpoints_changed

# Deliveries of a disabled endpoint wait here, out of the worker's sight, until
# the endpoint is enabled again; nothing is lost and no attempt is spent.
PARKED = 1 << 62

_LEASE = """
UPDATE delivery SET status = 3, claim_id = ?, due_at = ?, updated_at = ?
WHERE key IN ({keys})
RETURNING key, app_key, msg_key, endpoint_key, attempts, trigger_type
"""
# What a claim reads of each leased delivery's message, endpoint and application.
_CLAIMED_MESSAGES = "SELECT key, id, event_id, payload, trace_context FROM message"
_CLAIMED_ENDPOINTS = "SELECT * FROM endpoint"
_CLAIMED_APPLICATIONS = "SELECT key, id, uid FROM application"
# Leased deliveries whose endpoint or message is gone, and those of a disabled one.
_CANCEL_CLAIMED = "UPDATE delivery SET status = 4, claim_id = NULL, updated_at = ? WHERE key = ?"
_PARK_CLAIMED = """
UPDATE delivery SET status = 1, claim_id = NULL, due_at = ?, updated_at = ? WHERE key = ?
"""


def _pick_fairly(
    conn: sqlite3.Connection, now: int, limit: int, room: Mapping[int, int]
) -> tuple[list[int], list[int]]:
    """Keys of due deliveries, shared between the due lanes; and the lanes visited.

    Each lane gets an equal share first, never more than its `room`; what a lane
    cannot use goes to the lanes that filled theirs, so a lone busy endpoint still
    gets whole batches."""
    due = lanes.due(conn, now, [key for key, size in room.items() if size <= 0])
    if not due:
        return [], []
    share = max(limit // len(due), 1)
    keys: list[int] = []
    hungry = []
    # Only lanes actually served count as visited: the rest keep their turn.
    visited = due[: max(limit // share, 1)]
    for endpoint_key in visited:
        cap = room.get(endpoint_key, limit)
        picked = lanes.pick(conn, endpoint_key, now, min(share, cap, limit - len(keys)))
        keys += picked
        if len(picked) == share and cap > share:
            hungry.append(endpoint_key)
    for endpoint_key in hungry:
        if len(keys) >= limit:
            break
        cap = room.get(endpoint_key, limit)
        more = lanes.pick(conn, endpoint_key, now, min(share + limit - len(keys), cap))
        keys += more[share:]
    return keys, visited


def claim_due(
    conn: sqlite3.Connection,
    limit: int,
    lease_ms: int,
    room: Mapping[int, int],
    ring: KeyRing,
) -> list[ClaimedDelivery]:
    now = now_ms()
    claim = secrets.randbits(62)
    keys, visited = _pick_fairly(conn, now, limit, room)
    leased = []
    if keys:
        statement = _LEASE.format(keys=",".join("?" * len(keys)))
        leased = conn.execute(statement, (claim, now + lease_ms, now, *keys)).fetchall()
    lanes.settle(conn, visited, now)
    if not leased:
        return []
    messages = _by_key(conn, _CLAIMED_MESSAGES, {r["msg_key"] for r in leased})
    endpoints = _by_key(conn, _CLAIMED_ENDPOINTS, {r["endpoint_key"] for r in leased})
    apps = _by_key(conn, _CLAIMED_APPLICATIONS, {r["app_key"] for r in leased})
    # Each endpoint is decoded once per claim, however many of its deliveries it holds.
    decoded = {
        key: rows.endpoint(row, ring) for key, row in endpoints.items() if not row["disabled"]
    }
    claimed, cancelled, parked = [], [], []
    for row in leased:
        endpoint = decoded.get(row["endpoint_key"])
        message_row = messages.get(row["msg_key"])
        if row["endpoint_key"] not in endpoints or message_row is None:
            cancelled.append((now, row["key"]))
        elif endpoint is None:  # disabled
            parked.append((PARKED, now, row["key"]))
        else:
            claimed.append(_claimed(row, claim, message_row, endpoint, apps[row["app_key"]], now))
    conn.executemany(_CANCEL_CLAIMED, cancelled)
    conn.executemany(_PARK_CLAIMED, parked)
    return claimed


def _by_key(conn: sqlite3.Connection, select: str, keys: set[int]) -> dict[int, sqlite3.Row]:
    marks = ",".join("?" * len(keys))
    return {row["key"]: row for row in conn.execute(f"{select} WHERE key IN ({marks})", list(keys))}


def _claimed(
    row: sqlite3.Row,
    claim: int,
    message: sqlite3.Row,
    endpoint: Endpoint,
    app: sqlite3.Row,
    now: int,
) -> ClaimedDelivery:
    active = [endpoint.secret] + [
        old.secret for old in endpoint.retired_secrets if old.expires_at > now
    ]
    return ClaimedDelivery(
        delivery_key=row["key"],
        claim_id=claim,
        attempts_made=row["attempts"],
        trigger_type=TriggerType(row["trigger_type"]),
        msg_id=message["id"],
        msg_key=row["msg_key"],
        app_key=row["app_key"],
        endpoint_id=endpoint.id,
        endpoint_key=endpoint.key,
        url=endpoint.url,
        payload=bytes(message["payload"]),
        secrets=active,
        headers=endpoint.headers,
        endpoint_uid=endpoint.uid,
        event_id=message["event_id"],
        rate_limit=endpoint.throttle_rate,
        app_id=app["id"],
        app_uid=app["uid"],
        kind=delivery_kind(app["uid"], endpoint.url),
        trace_context=message["trace_context"],
        propagate_trace=endpoint.trace_propagation,
    )


_INSERT_ATTEMPT = """
INSERT INTO attempt (id, app_key, msg_key, endpoint_key, msg_id, endpoint_id, url, status,
    response_status_code, response, duration_ms, trigger_type, error, created_at, note)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# The claim id check is the fence: a worker whose lease expired and was taken
# over by another claim records its attempt but cannot move the delivery.
_ADVANCE = """
UPDATE delivery SET status = ?, attempts = attempts + 1, due_at = ?, claim_id = NULL,
    trigger_type = 0, updated_at = ?
WHERE key = ? AND claim_id = ?
"""

_HEALTHY = "UPDATE endpoint SET failing_since = NULL WHERE key = ? AND failing_since IS NOT NULL"
_FAILING = "UPDATE endpoint SET failing_since = ? WHERE key = ? AND failing_since IS NULL"
_DISABLE = """
UPDATE endpoint SET disabled = 1, updated_at = :now
WHERE key = :key AND disabled = 0 AND (:gone OR failing_since <= :cutoff)
RETURNING app_key, id, failing_since
"""


def record_attempts(
    conn: sqlite3.Connection, results: Sequence[AttemptResult], disable_after_ms: int
) -> RecordOutcome:
    conn.executemany(_INSERT_ATTEMPT, [_attempt_row(result) for result in results])
    conn.executemany(_ADVANCE, [_advance_row(result) for result in results])
    lanes.wake(
        conn, [(r.delivery.endpoint_key, r.retry_at) for r in results if r.retry_at is not None]
    )
    outcome = RecordOutcome()
    _track_health(conn, results)
    now = now_ms()
    for key, gone in _disable_candidates(results).items():
        row = conn.execute(
            _DISABLE, {"now": now, "key": key, "gone": gone, "cutoff": now - disable_after_ms}
        ).fetchone()
        if row is not None:
            reason = "the endpoint answered 410 Gone" if gone else "every attempt failed"
            since = None if gone else row["failing_since"]
            outcome.disabled.append(DisabledEndpoint(row["app_key"], row["id"], reason, since))
            park_for_endpoint(conn, key)
    endpoints_changed(conn, [disabled.app_key for disabled in outcome.disabled])
    return outcome


def _track_health(conn: sqlite3.Connection, results: Sequence[AttemptResult]) -> None:
    healthy = {r.delivery.endpoint_key for r in results if r.succeeded}
    failing = {r.delivery.endpoint_key: r.finished_at for r in results if not r.succeeded}
    conn.executemany(_HEALTHY, [(key,) for key in healthy])
    conn.executemany(_FAILING, [(at, key) for key, at in failing.items() if key not in healthy])


def _disable_candidates(results: Sequence[AttemptResult]) -> dict[int, bool]:
    """Endpoint key -> whether it answered 410, for endpoints whose attempts failed."""
    candidates: dict[int, bool] = {}
    for result in results:
        if not result.succeeded:
            key = result.delivery.endpoint_key
            candidates[key] = candidates.get(key, False) or result.verdict == Verdict.GONE
    return candidates


def _outcome(result: AttemptResult) -> DeliveryStatus:
    if result.succeeded:
        return DeliveryStatus.SUCCESS
    return DeliveryStatus.PENDING if result.retry_at is not None else DeliveryStatus.FAIL


def _attempt_row(result: AttemptResult) -> tuple[object, ...]:
    d = result.delivery
    status = DeliveryStatus.SUCCESS if result.succeeded else DeliveryStatus.FAIL
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
        result.response,
        result.duration_ms,
        int(d.trigger_type),
        result.error,
        result.finished_at,
        result.note,
    )


def _advance_row(result: AttemptResult) -> tuple[object, ...]:
    due = result.retry_at if result.retry_at is not None else result.finished_at
    if result.verdict == Verdict.GONE:
        # Kept, not failed: the endpoint is disabled and this waits with the rest.
        return (
            int(DeliveryStatus.PENDING),
            PARKED,
            result.finished_at,
            result.delivery.delivery_key,
            result.delivery.claim_id,
        )
    d = result.delivery
    return (int(_outcome(result)), due, result.finished_at, d.delivery_key, d.claim_id)


def extend_leases(
    conn: sqlite3.Connection, deliveries: Sequence[ClaimedDelivery], lease_ms: int
) -> None:
    until = now_ms() + lease_ms
    conn.executemany(_EXTEND, [(until, d.delivery_key, d.claim_id) for d in deliveries])


_EXTEND = "UPDATE delivery SET due_at = ? WHERE key = ? AND claim_id = ? AND status = 3"
# SQLite uses the partial index delivery_lane (WHERE status IN (1, 3)) only for a
# query that repeats that condition word for word; `status = 1` alone scans.
_QUEUED = "status IN (1, 3)"
# Over the partial index of queued deliveries; parked ones (disabled endpoints) aside.
BACKLOG = f"SELECT count(*), min(due_at) FROM delivery WHERE {_QUEUED} AND due_at < {PARKED}"
_PARK_FOR_ENDPOINT = f"""
UPDATE delivery SET due_at = ?, updated_at = ? WHERE endpoint_key = ? AND {_QUEUED} AND status = 1
"""
_RELEASE = """
UPDATE delivery SET status = 1, due_at = ?, claim_id = NULL, updated_at = ?
WHERE key = ? AND claim_id = ?
"""
# A manual resend restarts the retry schedule; its first attempt counts as manual.
_RESEND = """
INSERT INTO delivery (app_key, msg_key, endpoint_key, status, attempts, trigger_type,
    due_at, claim_id, updated_at)
VALUES (?, ?, ?, 1, 0, 1, ?, NULL, ?)
ON CONFLICT (msg_key, endpoint_key) DO UPDATE SET status = 1, attempts = 0,
    trigger_type = 1, due_at = excluded.due_at, claim_id = NULL,
    updated_at = excluded.updated_at
"""
_UNPARK = f"""
UPDATE delivery SET due_at = ?, updated_at = ?
WHERE endpoint_key = ? AND {_QUEUED} AND status = 1 AND due_at = ?
"""
_CANCEL_FOR_ENDPOINT = """
UPDATE delivery SET status = 4, claim_id = NULL, updated_at = ?
WHERE endpoint_key = ? AND status IN (1, 3)
"""
_RECOVER = """
UPDATE delivery SET status = 1, attempts = 0, trigger_type = 1, due_at = ?,
    claim_id = NULL, updated_at = ?
WHERE endpoint_key = ? AND status = 2 AND msg_key IN (
    SELECT key FROM message WHERE app_key = delivery.app_key
    AND created_at >= ? AND created_at < ?)
"""
_NEVER_SENT = """
SELECT * FROM message WHERE app_key = ? AND created_at >= ? AND created_at < ?
AND NOT EXISTS (SELECT 1 FROM delivery
                WHERE delivery.msg_key = message.key AND delivery.endpoint_key = ?)
"""
_REPLAY = """
INSERT INTO delivery (app_key, msg_key, endpoint_key, status, trigger_type, due_at, updated_at)
VALUES (?, ?, ?, 1, 1, ?, ?)
"""


def park_for_endpoint(conn: sqlite3.Connection, endpoint_key: int) -> None:
    """Hold a disabled endpoint's waiting deliveries until it is enabled again."""
    conn.execute(_PARK_FOR_ENDPOINT, (PARKED, now_ms(), endpoint_key))


def release(conn: sqlite3.Connection, deliveries: Sequence[ClaimedDelivery], delay_ms: int) -> None:
    now = now_ms()
    due = now + delay_ms
    conn.executemany(_RELEASE, [(due, now, d.delivery_key, d.claim_id) for d in deliveries])
    lanes.wake(conn, [(d.endpoint_key, due) for d in deliveries])


def resend(conn: sqlite3.Connection, app_key: int, msg_key: int, endpoint_key: int) -> None:
    now = now_ms()
    conn.execute(_RESEND, (app_key, msg_key, endpoint_key, now, now))
    lanes.wake(conn, [(endpoint_key, now)])


def unpark(conn: sqlite3.Connection, endpoint_key: int) -> None:
    now = now_ms()
    cursor = conn.execute(_UNPARK, (now, now, endpoint_key, PARKED))
    if cursor.rowcount:
        lanes.wake(conn, [(endpoint_key, now)])


def cancel_for_endpoint(conn: sqlite3.Connection, endpoint_key: int) -> None:
    conn.execute(_CANCEL_FOR_ENDPOINT, (now_ms(), endpoint_key))


def _woken(conn: sqlite3.Connection, count: int, endpoint_key: int, now: int) -> int:
    if count:
        lanes.wake(conn, [(endpoint_key, now)])
    return count


def recover(conn: sqlite3.Connection, endpoint_key: int, since: int, until: int | None) -> int:
    now = now_ms()
    window = (since, until if until is not None else PARKED)
    cursor = conn.execute(_RECOVER, (now, now, endpoint_key, *window))
    return _woken(conn, cursor.rowcount, endpoint_key, now)


def replay_missing(
    conn: sqlite3.Connection,
    endpoint: Endpoint,
    since: int,
    until: int | None,
) -> int:
    window = (since, until if until is not None else PARKED)
    candidates = conn.execute(_NEVER_SENT, (endpoint.app_key, *window, endpoint.key)).fetchall()
    now = now_ms()
    chosen = [
        row["key"] for row in candidates if select_endpoints([endpoint], rows.message(row, False))
    ]
    conn.executemany(_REPLAY, [(endpoint.app_key, key, endpoint.key, now, now) for key in chosen])
    return _woken(conn, len(chosen), endpoint.key, now)
