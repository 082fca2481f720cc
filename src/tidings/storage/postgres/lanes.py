"""Per-endpoint lanes: the order in which claims visit endpoints.

A lane's `next_check` is a lower bound on when its endpoint next has a
delivery due. Whatever makes a delivery due sooner lowers it (`wake`); after a
claim, `settle` raises each visited lane back to the truth.

On SQLite one writer does both, one after the other. Here they race: a settle
that computed its minimum before a new delivery committed could raise the lane
past it, and that delivery would wait for nothing. So every waking transaction
holds a shared advisory lock on its endpoints' lanes until it commits, and a
settle takes the exclusive lock first, without waiting: a lane with a wake in
flight is simply not settled this time (staying low is always safe).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

log = logging.getLogger(__name__)

# How many endpoints one claim visits at most.
LANES_PER_CLAIM = 64
NEVER = 1 << 62
# First key of the two-key advisory locks on lanes: "lane" in ASCII.
LANE_LOCK_SPACE = 0x6C_61_6E_65

_SHARE_LOCKS = """
SELECT count(pg_advisory_xact_lock_shared($1, hashint8(endpoint_key)))
FROM unnest($2::bigint[]) AS endpoint_key
"""
# Lower where a lane is later than the new due time, create where there is none.
# Where the lane is already low enough nothing is written and no row is locked,
# so concurrent messages to one busy endpoint do not queue up here. Returns the
# endpoints whose lane another transaction created meanwhile: those are lowered
# again by _LOWER, in a statement that sees the other one's row.
_DUE = """
WITH due AS (
    SELECT endpoint_key, min(due_at) AS due_at
    FROM unnest($1::bigint[], $2::bigint[]) AS d(endpoint_key, due_at) GROUP BY endpoint_key
)"""
_LOWER = f"""{_DUE}
UPDATE lane SET next_check = due.due_at FROM due
WHERE lane.endpoint_key = due.endpoint_key AND lane.next_check > due.due_at
"""
_WAKE = f"""{_DUE}, lowered AS (
    UPDATE lane SET next_check = due.due_at FROM due
    WHERE lane.endpoint_key = due.endpoint_key AND lane.next_check > due.due_at
), missing AS (
    SELECT endpoint_key, due_at FROM due
    WHERE NOT EXISTS (SELECT 1 FROM lane WHERE lane.endpoint_key = due.endpoint_key)
), created AS (
    INSERT INTO lane (endpoint_key, next_check) SELECT endpoint_key, due_at FROM missing
    ON CONFLICT (endpoint_key) DO NOTHING
    RETURNING endpoint_key
)
SELECT coalesce(array_agg(endpoint_key), '{{}}') FROM missing
WHERE endpoint_key NOT IN (SELECT endpoint_key FROM created)
"""

_TRY_LOCKS = """
SELECT coalesce(array_agg(endpoint_key), '{}') FROM unnest($1::bigint[]) AS endpoint_key
WHERE pg_try_advisory_xact_lock($2, hashint8(endpoint_key))
"""
# Runs after _TRY_LOCKS, in a later statement, so it sees every wake that
# committed before the locks were taken; later wakes wait for this commit.
_SETTLE = """
WITH earliest AS (
    SELECT settled.endpoint_key, (
        SELECT min(due_at) FROM delivery
        WHERE delivery.endpoint_key = settled.endpoint_key AND status IN (1, 3)
    ) AS due_at
    FROM unnest($1::bigint[]) AS settled(endpoint_key)
), emptied AS (
    DELETE FROM lane USING earliest
    WHERE lane.endpoint_key = earliest.endpoint_key AND earliest.due_at IS NULL
)
UPDATE lane SET next_check = earliest.due_at FROM earliest
WHERE lane.endpoint_key = earliest.endpoint_key AND earliest.due_at IS NOT NULL
"""

NEXT_CHECK = "SELECT min(next_check) FROM lane WHERE endpoint_key <> ALL ($1::bigint[])"


async def wake(conn: Any, due: Iterable[tuple[int, int]]) -> None:
    """Record, inside the caller's transaction, that each `(endpoint_key, due_at)`
    has a delivery due then."""
    pairs = sorted(due)
    if not pairs:
        return
    endpoints = sorted({endpoint_key for endpoint_key, _ in pairs})
    await conn.execute(_SHARE_LOCKS, LANE_LOCK_SPACE, endpoints)
    columns = [key for key, _ in pairs], [at for _, at in pairs]
    if await conn.fetchval(_WAKE, *columns):
        await conn.execute(_LOWER, *columns)


async def settle(conn: Any, endpoint_keys: Sequence[int]) -> None:
    """After a claim, in a transaction of its own: each visited lane waits for its
    endpoint's earliest queued delivery, or goes when there is none."""
    if not endpoint_keys:
        return
    async with conn.transaction():
        settled = await conn.fetchval(_TRY_LOCKS, sorted(endpoint_keys), LANE_LOCK_SPACE)
        if settled:
            await conn.execute(_SETTLE, settled)
