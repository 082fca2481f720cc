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

# See migration 0008: the try-locks, then (in a later statement of the function,
# which sees every wake that committed before the locks were taken) the settle.
_SETTLE = "SELECT tidings_settle_lanes($1::bigint[], $2)"

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
    """After a claim, in a transaction of its own (one call, which commits as it
    returns): each visited lane waits for its endpoint's earliest queued delivery,
    or goes when there is none."""
    if endpoint_keys:
        await conn.execute(_SETTLE, sorted(endpoint_keys), LANE_LOCK_SPACE)
