"""Claiming due deliveries on PostgreSQL: one statement, fair between endpoints.

The statement visits the due lanes (see lanes.py), least recently served first,
leaving out the endpoints the worker has no room for. Each lane first gets an equal
share of the batch, never more than the room the worker has for it; what a lane
cannot use goes, in turn order, to the lanes that filled theirs, so a lone busy
endpoint still gets whole batches. Rows are
taken with FOR UPDATE SKIP LOCKED, so any number of workers claim at once
without waiting for, or taking, each other's rows.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from tidings.domain.clock import RisingClock, now_ms
from tidings.domain.errors import TidingsError
from tidings.domain.internal import delivery_kind
from tidings.domain.models import ClaimedDelivery, RetiredSecret
from tidings.domain.statuses import TriggerType
from tidings.storage import records
from tidings.storage.postgres import lanes, rows
from tidings.storage.postgres.connection import translated
from tidings.storage.postgres.queue import PARKED
from tidings.storage.sealing import KeyRing

log = logging.getLogger(__name__)


def _pick(endpoint_key: str, limit: str) -> str:
    """One endpoint's oldest due deliveries (pending and due, or sending with an
    expired lease), locked; served by the partial index delivery_lane."""
    return f"""
    SELECT key, due_at FROM delivery
    WHERE endpoint_key = {endpoint_key} AND status IN (1, 3) AND due_at <= $1
    ORDER BY due_at, key
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED"""


_SHARE = "(SELECT size FROM share)"
# No room given for a lane: only the batch size bounds it.
_UNBOUNDED = 2147483647
# When each lane was served, by this process's claims.
_SERVED = RisingClock()
# The per-lane pick on its own ($1 now, $2 endpoint_key, $3 limit), for EXPLAIN in tests.
PICK = _pick("$2", "$3")

# $1 now, $2 batch size, $3 claim id, $4 lease expiry, $5 and $6 the worker's room:
# endpoint keys and how many each can take (0: skip it), $7 the visited lanes'
# served_at (this process's claims never tie on it: RisingClock).
# Returns at least one row: `visited` (the lanes to settle) and, where a delivery
# was leased, its fields.
CLAIM = f"""
WITH room AS MATERIALIZED (
    SELECT * FROM unnest($5::bigint[], $6::int[]) AS room (endpoint_key, size)
),
lanes AS MATERIALIZED (
    SELECT due.endpoint_key, coalesce(room.size, {_UNBOUNDED}) AS room,
        row_number() OVER (ORDER BY due.served_at, due.endpoint_key) AS turn
    FROM (SELECT endpoint_key, served_at FROM lane
          WHERE next_check <= $1
            AND endpoint_key <> ALL (ARRAY(SELECT endpoint_key FROM room WHERE size <= 0))
          ORDER BY served_at, endpoint_key
          LIMIT least($2::int, {lanes.LANES_PER_CLAIM})) AS due
    LEFT JOIN room ON room.endpoint_key = due.endpoint_key
),
share AS MATERIALIZED (
    SELECT greatest($2::int / greatest(count(*), 1), 1) AS size FROM lanes
),
first_pass AS MATERIALIZED (
    SELECT lanes.turn, lanes.endpoint_key, lanes.room, picked.key, picked.due_at
    FROM lanes CROSS JOIN LATERAL
        ({_pick("lanes.endpoint_key", f"least({_SHARE}, lanes.room)")}) AS picked
),
wanted AS MATERIALIZED (
    SELECT greatest($2::int - count(*), 0) AS size FROM first_pass
),
-- Lanes that filled their share (with room for more) may have more: read past
-- where each stopped.
hungry AS MATERIALIZED (
    SELECT turn, endpoint_key, room - count(*) AS room, max(due_at) AS after_due,
        array_agg(key) AS taken
    FROM first_pass GROUP BY turn, endpoint_key, room
    HAVING count(*) = (SELECT size FROM share) AND room > count(*)
),
second_pass AS MATERIALIZED (
    SELECT more.key FROM hungry CROSS JOIN LATERAL (
        SELECT key, due_at FROM delivery
        WHERE endpoint_key = hungry.endpoint_key AND status IN (1, 3) AND due_at <= $1
            AND due_at >= hungry.after_due AND key <> ALL (hungry.taken)
        ORDER BY due_at, key
        LIMIT least((SELECT size FROM wanted), hungry.room)
    ) AS more
    ORDER BY hungry.turn, more.due_at, more.key
    LIMIT (SELECT size FROM wanted)
),
-- Read without locks above, so only the rows actually taken are locked here.
topped_up AS MATERIALIZED (
    SELECT key FROM delivery
    WHERE key IN (SELECT key FROM second_pass) AND status IN (1, 3) AND due_at <= $1
    FOR UPDATE SKIP LOCKED
),
leased AS (
    UPDATE delivery SET status = 3, claim_id = $3, due_at = $4, updated_at = $1
    WHERE key IN (SELECT key FROM first_pass UNION ALL SELECT key FROM topped_up)
    RETURNING key, app_key, msg_key, endpoint_key, attempts, trigger_type
),
served AS (
    UPDATE lane SET served_at = $7
    WHERE endpoint_key IN (
        SELECT endpoint_key FROM lane WHERE endpoint_key IN (SELECT endpoint_key FROM lanes)
        FOR NO KEY UPDATE SKIP LOCKED
    )
)
SELECT visited.endpoint_keys AS visited, leased.*, message.*, endpoint.*, application.*
FROM (SELECT coalesce(array_agg(endpoint_key), '{{}}') AS endpoint_keys FROM lanes) AS visited
LEFT JOIN leased ON true
-- LIMIT 1 keeps these lookups per leased row, by primary key: as plain joins the
-- planner may hash a whole table to match a few hundred rows.
LEFT JOIN LATERAL (
    SELECT id AS msg_id, event_id, payload, trace_context FROM message
    WHERE message.key = leased.msg_key LIMIT 1
) AS message ON true
LEFT JOIN LATERAL (
    SELECT id AS endpoint_id, uid AS endpoint_uid, url, secret, retired_secrets, headers,
        disabled, throttle_rate, trace_propagation
    FROM endpoint WHERE endpoint.key = leased.endpoint_key LIMIT 1
) AS endpoint ON true
LEFT JOIN LATERAL (
    SELECT id AS app_id, uid AS app_uid FROM application
    WHERE application.key = leased.app_key LIMIT 1
) AS application ON true
"""

_CANCEL_CLAIMED = """
UPDATE delivery SET status = 4, claim_id = NULL, updated_at = $3
WHERE key = ANY($1::bigint[]) AND claim_id = $2
"""
_PARK_CLAIMED = f"""
UPDATE delivery SET status = 1, claim_id = NULL, due_at = {PARKED}, updated_at = $3
WHERE key = ANY($1::bigint[]) AND claim_id = $2
"""


async def claim_due(
    conn: Any, limit: int, lease_ms: int, room: Mapping[int, int], ring: KeyRing
) -> tuple[list[ClaimedDelivery], list[int]]:
    """The claimed deliveries, and the lanes visited: the caller settles those
    (`settle`) once the deliveries are under way, off the path to their first byte."""
    now = now_ms()
    claim = secrets.randbits(62)
    keys, sizes = list(room), list(room.values())
    served = _SERVED.stamp(now)
    found = await conn.fetch(CLAIM, now, limit, claim, now + lease_ms, keys, sizes, served)
    leased = [row for row in found if row["key"] is not None]
    claimed = await _sort_out(conn, leased, claim, now, ring)
    return claimed, found[0]["visited"] if found else []


async def _sort_out(
    conn: Any, leased: list[rows.Row], claim: int, now: int, ring: KeyRing
) -> list[ClaimedDelivery]:
    """Hand back what cannot be attempted: deliveries whose endpoint or message is
    gone are cancelled, those of a disabled endpoint parked."""
    claimed, cancelled, parked = [], [], []
    for row in leased:
        if row["endpoint_id"] is None or row["msg_id"] is None:
            cancelled.append(row["key"])
        elif row["disabled"]:
            parked.append(row["key"])
        else:
            claimed.append(_claimed(row, claim, now, ring))
    # Rare, and fenced by the claim id, so no transaction is needed around them:
    # if these fail, the lease expires and the next claim sorts them out again.
    if cancelled:
        await conn.execute(_CANCEL_CLAIMED, cancelled, claim, now)
    if parked:
        await conn.execute(_PARK_CLAIMED, parked, claim, now)
    return claimed


class LaneSettler:
    """Settles the lanes claims visited, off the claims' path: one transaction at a
    time, the lanes of claims made meanwhile merged into the next one, so a fast claim
    loop costs at most one pooled connection here."""

    def __init__(self) -> None:
        self._pending: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, pool: Any, visited: list[int]) -> None:
        self._pending.update(visited)
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(pool))

    async def _run(self, pool: Any) -> None:
        while self._pending:
            visited = sorted(self._pending)
            self._pending.clear()
            await settle(pool, visited)

    async def wait(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - a bound, not a deadline
        """Until the lanes added so far are settled (or `timeout`); cancelling the
        wait leaves the settling be."""
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task], timeout=timeout)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def settle(pool: Any, visited: list[int]) -> None:
    """Raise the visited lanes to their next due time, on a connection of its own.
    The claim has committed: a failure here must not lose the leased deliveries
    (they would wait out their lease). Unsettled lanes merely stay early, which only
    costs a later claim a look."""
    if not visited:
        return
    try:
        async with translated(pool), pool.acquire() as conn:
            await lanes.settle(conn, visited)
    except TidingsError as exc:
        log.warning("settling %d lanes failed: %s", len(visited), exc)


def _claimed(row: rows.Row, claim: int, now: int, ring: KeyRing) -> ClaimedDelivery:
    # Opened from the ring's cache after the first claim: sealed values never change.
    place = f"endpoint:{row['endpoint_id']}"
    stored_retired = rows.load(row["retired_secrets"])
    retired = [
        RetiredSecret(**item)
        for item in records.opened_json(stored_retired, ring, place + ":retired_secrets")
    ]
    secret = ring.open(row["secret"], place + ":secret")
    active = [secret] + [old.secret for old in retired if old.expires_at > now]
    return ClaimedDelivery(
        delivery_key=row["key"],
        claim_id=claim,
        attempts_made=row["attempts"],
        trigger_type=TriggerType(row["trigger_type"]),
        msg_id=row["msg_id"],
        msg_key=row["msg_key"],
        app_key=row["app_key"],
        endpoint_id=row["endpoint_id"],
        endpoint_key=row["endpoint_key"],
        url=row["url"],
        payload=bytes(row["payload"]),
        secrets=active,
        headers=records.opened_json(rows.load(row["headers"]), ring, place + ":headers"),
        rate_limit=row["throttle_rate"],
        app_id=row["app_id"],
        app_uid=row["app_uid"],
        endpoint_uid=row["endpoint_uid"],
        event_id=row["event_id"],
        kind=delivery_kind(row["app_uid"], row["url"]),
        trace_context=row["trace_context"],
        propagate_trace=row["trace_propagation"],
    )
