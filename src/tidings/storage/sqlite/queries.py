"""The named SQL of the SQLite store's plain reads and writes.

Message creation lives in messages.py, the delivery queue in queue.py and the
receiving half's writes in sources.py; list queries are completed with a WHERE
clause and page bounds by `SqliteAccess._page`.
"""

from __future__ import annotations

from tidings.storage.records import TOKEN_COLUMNS

PING = "SELECT 1"

# tokens ---------------------------------------------------------------------
ADD_TOKEN = f"""
INSERT INTO token ({", ".join(TOKEN_COLUMNS)})
VALUES ({", ".join("?" * len(TOKEN_COLUMNS))})
"""
_SELECT_TOKEN = (
    "SELECT token.*, application.id AS app_id FROM token "
    "LEFT JOIN application ON application.key = token.app_key"
)
FIND_TOKEN = _SELECT_TOKEN + " WHERE token.hash = ?"
LIST_TOKENS = _SELECT_TOKEN + " ORDER BY token.rowid"
COUNT_TOKENS = "SELECT count(*) FROM token"
# A token already ended earlier stays ended at that earlier time.
_END = "UPDATE token SET ends_at = CASE WHEN ends_at IS NULL OR ends_at > ? THEN ? ELSE ends_at END"
END_TOKEN = _END + " WHERE id = ?"
END_APP_TOKENS = _END + " WHERE app_key = ?"


def in_sessions(count: int) -> str:
    """END_APP_TOKENS narrowed to `count` session ids."""
    return f" AND session_id IN ({','.join('?' * count)})"


# applications -----------------------------------------------------------------
INSERT_APPLICATION = """
INSERT INTO application (uid, name, throttle_rate, metadata, updated_at, id, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
# By id first, then by uid: both are unique, and each branch uses its own index.
GET_APPLICATION = """
SELECT * FROM application WHERE id = ? UNION ALL
SELECT * FROM application WHERE uid = ? LIMIT 1
"""
LIST_APPLICATIONS = "SELECT * FROM application"
# Applications that sources own are not the customers' (domain/internal.py).
CUSTOMER_APPLICATIONS = "(uid IS NULL OR substr(uid, 1, ?) != ?)"
UPDATE_APPLICATION = """
UPDATE application SET uid = ?, name = ?, throttle_rate = ?, metadata = ?, updated_at = ?
WHERE key = ?
"""
# Cascades to endpoints, messages (and so deliveries and attempts), idempotency keys,
# and a source's events and rejections.
DELETE_APPLICATION = "DELETE FROM application WHERE key = ?"

# event types ----------------------------------------------------------------
INSERT_EVENT_TYPE = """
INSERT INTO event_type (name, description, archived, deprecated, schemas, group_name,
    feature_flags, updated_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
GET_EVENT_TYPE = "SELECT * FROM event_type WHERE name = ?"
LIST_EVENT_TYPES = "SELECT * FROM event_type"
UPDATE_EVENT_TYPE = """
UPDATE event_type SET description = ?, archived = ?, deprecated = ?, schemas = ?,
    group_name = ?, feature_flags = ?, updated_at = ?
WHERE name = ?
"""
DELETE_EVENT_TYPE = "DELETE FROM event_type WHERE name = ?"

# endpoints ------------------------------------------------------------------
GET_ENDPOINT = """
SELECT * FROM endpoint WHERE app_key = ? AND id = ? UNION ALL
SELECT * FROM endpoint WHERE app_key = ? AND uid = ? LIMIT 1
"""
LIST_ENDPOINTS = "SELECT * FROM endpoint"
# Re-enabled: the old run of failures no longer counts against it.
FORGIVE_FAILURES = "UPDATE endpoint SET failing_since = NULL WHERE key = ? AND disabled = 1"
# id, app_key and created_at never change.
ENDPOINT_FIXED = ("id", "app_key", "created_at")
DELETE_ENDPOINT = "DELETE FROM endpoint WHERE key = ?"


def insert_named(table: str, names: list[str]) -> str:
    """An INSERT of the named parameters `names` into their columns."""
    marks = ", ".join(f":{name}" for name in names)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"


def update_named(table: str, names: list[str]) -> str:
    """An UPDATE of the named parameters `names`, of the row whose key is `:key`."""
    assignments = ", ".join(f"{name} = :{name}" for name in names)
    return f"UPDATE {table} SET {assignments} WHERE key = :key"


# sources --------------------------------------------------------------------
GET_SOURCE = """
SELECT * FROM source WHERE id = ? UNION ALL
SELECT * FROM source WHERE uid = ? LIMIT 1
"""


def source_by_token(lookups: int) -> str:
    """A source by its token's keyed hash, under any of `lookups` keys (the token is
    sealed), or by its previous token's while that has not expired."""
    marks = ",".join("?" * lookups)
    return (
        f"SELECT * FROM source WHERE token_lookup IN ({marks}) UNION ALL SELECT * FROM "
        f"source WHERE previous_token_lookup IN ({marks}) AND previous_token_expires_at > ? "
        "LIMIT 1"
    )


LIST_SOURCES = "SELECT * FROM source"
# Every column an update writes (sources.params), by name.
UPDATE_SOURCE = update_named(
    "source",
    [
        "uid",
        "name",
        "type",
        "config",
        "metadata",
        "token",
        "token_lookup",
        "previous_token",
        "previous_token_lookup",
        "previous_token_expires_at",
        "updated_at",
    ],
)

# messages -------------------------------------------------------------------
# By id, or else the latest message with that eventId.
GET_MESSAGE = """
SELECT * FROM message WHERE app_key = ? AND id = ? UNION ALL
SELECT * FROM (SELECT * FROM message WHERE app_key = ? AND event_id = ?
               ORDER BY key DESC LIMIT 1) LIMIT 1
"""
LIST_MESSAGES = "SELECT * FROM message"

# attempts and destinations ----------------------------------------------------
# Joined with message so channel, tag and event type filters apply to attempts.
LIST_ATTEMPTS = "SELECT attempt.* FROM attempt JOIN message ON message.key = attempt.msg_key"
GET_ATTEMPT = "SELECT * FROM attempt WHERE id = ? AND msg_key = ? AND app_key = ?"
LIST_DESTINATIONS = (
    "SELECT endpoint.*, delivery.status AS d_status, delivery.due_at AS d_due "
    "FROM delivery JOIN endpoint ON endpoint.key = delivery.endpoint_key"
)


# inbound events and rejections --------------------------------------------------
GET_INBOUND = "SELECT * FROM inbound_event WHERE msg_key = ?"
LIST_INBOUND = """
SELECT i.*, m.* FROM inbound_event i JOIN message m ON m.key = i.msg_key
WHERE i.source_key = ? AND i.msg_key > ? ORDER BY i.msg_key LIMIT ?
"""
LIST_REJECTIONS = "SELECT * FROM source_rejection WHERE source_key = ? ORDER BY key DESC LIMIT ?"
