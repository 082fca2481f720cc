"""The named SQL of the PostgreSQL store's plain reads and writes.

Message creation lives in messages.py and the delivery queue in queue.py; list
queries are completed with a WHERE clause and page bounds by filters.page_query.
"""

from __future__ import annotations

from tidings.storage.postgres.rows import (
    APPLICATION,
    ATTEMPT,
    ENDPOINT,
    ENDPOINT_FIELDS,
    EVENT_TYPE,
    MESSAGE,
    columns,
)
from tidings.storage.records import TOKEN_COLUMNS

PING = "SELECT 1"

# tokens ---------------------------------------------------------------------
ADD_TOKEN = f"""
INSERT INTO token ({", ".join(TOKEN_COLUMNS)})
VALUES ({", ".join(f"${n}" for n in range(1, len(TOKEN_COLUMNS) + 1))})
"""
_SELECT_TOKEN = (
    "SELECT token.*, application.id AS app_id FROM token "
    "LEFT JOIN application ON application.key = token.app_key"
)
FIND_TOKEN = _SELECT_TOKEN + " WHERE token.hash = $1"
LIST_TOKENS = _SELECT_TOKEN + " ORDER BY token.key"
COUNT_TOKENS = "SELECT count(*) FROM token"
# A token already ended earlier stays ended at that earlier time.
_END = "UPDATE token SET ends_at = LEAST(coalesce(ends_at, $1), $1)"
END_TOKEN = _END + " WHERE id = $2 RETURNING id"
END_APP_TOKENS = (
    _END + " WHERE app_key = $2 AND ($3::text[] IS NULL OR session_id = ANY($3)) RETURNING id"
)

# applications -----------------------------------------------------------------
INSERT_APPLICATION = """
INSERT INTO application (id, uid, name, throttle_rate, metadata, updated_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING key
"""
# By id first, then by uid: both are unique, and each branch uses its own index.
GET_APPLICATION = f"""
SELECT {columns(APPLICATION)} FROM application WHERE id = $1
UNION ALL
SELECT {columns(APPLICATION)} FROM application WHERE uid = $1
LIMIT 1
"""
LIST_APPLICATIONS = f"SELECT {columns(APPLICATION)} FROM application"
UPDATE_APPLICATION = """
UPDATE application SET uid = $1, name = $2, throttle_rate = $3, metadata = $4, updated_at = $5
WHERE key = $6
"""
# Cascades to endpoints, messages (and so deliveries and attempts) and idempotency keys.
DELETE_APPLICATION = "DELETE FROM application WHERE key = $1"

# event types ----------------------------------------------------------------
INSERT_EVENT_TYPE = """
INSERT INTO event_type (name, description, archived, deprecated, schemas, group_name,
    feature_flags, updated_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
GET_EVENT_TYPE = f"SELECT {columns(EVENT_TYPE)} FROM event_type WHERE name = $1"
LIST_EVENT_TYPES = f"SELECT {columns(EVENT_TYPE)} FROM event_type"
UPDATE_EVENT_TYPE = """
UPDATE event_type SET description = $2, archived = $3, deprecated = $4, schemas = $5,
    group_name = $6, feature_flags = $7, updated_at = $8
WHERE name = $1
"""
DELETE_EVENT_TYPE = "DELETE FROM event_type WHERE name = $1"

# endpoints ------------------------------------------------------------------
INSERT_ENDPOINT = f"""
INSERT INTO endpoint ({columns(ENDPOINT_FIELDS)})
VALUES ({", ".join(f"${n}" for n in range(1, len(ENDPOINT_FIELDS) + 1))})
RETURNING key
"""
GET_ENDPOINT = f"""
SELECT {columns(ENDPOINT)} FROM endpoint WHERE app_key = $1 AND id = $2
UNION ALL
SELECT {columns(ENDPOINT)} FROM endpoint WHERE app_key = $1 AND uid = $2
LIMIT 1
"""
LIST_ENDPOINTS = f"SELECT {columns(ENDPOINT)} FROM endpoint"
# id, app_key and created_at never change.
ENDPOINT_FIXED = ("id", "app_key", "created_at")
_ENDPOINT_MUTABLE = tuple(name for name in ENDPOINT_FIELDS if name not in ENDPOINT_FIXED)
UPDATE_ENDPOINT = f"""
UPDATE endpoint SET {", ".join(f"{name} = ${n}" for n, name in enumerate(_ENDPOINT_MUTABLE, 2))}
WHERE key = $1
"""
DELETE_ENDPOINT = "DELETE FROM endpoint WHERE key = $1"
# Re-enabled: the old run of failures no longer counts against it.
FORGIVE_FAILURES = "UPDATE endpoint SET failing_since = NULL WHERE key = $1 AND disabled"

# messages -------------------------------------------------------------------
# By id, or else the latest message with that eventId.
GET_MESSAGE = f"""
(SELECT {columns(MESSAGE)} FROM message WHERE app_key = $1 AND id = $2)
UNION ALL
(SELECT {columns(MESSAGE)} FROM message WHERE app_key = $1 AND event_id = $2
 ORDER BY key DESC LIMIT 1)
LIMIT 1
"""
LIST_MESSAGES = f"SELECT {columns(MESSAGE)} FROM message"

# attempts and destinations ----------------------------------------------------
# Joined with message so channel, tag and event type filters apply to attempts.
LIST_ATTEMPTS = (
    f"SELECT {columns(ATTEMPT, 'attempt')} FROM attempt "
    "JOIN message ON message.key = attempt.msg_key"
)
GET_ATTEMPT = f"""
SELECT {columns(ATTEMPT)} FROM attempt WHERE id = $1 AND msg_key = $2 AND app_key = $3
"""
LIST_DESTINATIONS = (
    f"SELECT {columns(ENDPOINT, 'endpoint')}, delivery.status AS d_status, "
    "delivery.due_at AS d_due "
    "FROM delivery JOIN endpoint ON endpoint.key = delivery.endpoint_key"
)
