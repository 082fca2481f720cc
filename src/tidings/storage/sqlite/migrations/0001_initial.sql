-- Tokens: only the SHA-256 of each bearer token is kept.
CREATE TABLE token (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE application (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    uid TEXT UNIQUE,
    name TEXT NOT NULL,
    throttle_rate INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE event_type (
    key INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    deprecated INTEGER NOT NULL DEFAULT 0,
    schemas TEXT,
    group_name TEXT,
    feature_flags TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE endpoint (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    app_key INTEGER NOT NULL REFERENCES application(key) ON DELETE CASCADE,
    uid TEXT,
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    disabled INTEGER NOT NULL DEFAULT 0,
    filter_types TEXT,
    channels TEXT,
    secret TEXT NOT NULL,
    retired_secrets TEXT NOT NULL DEFAULT '[]',
    headers TEXT NOT NULL DEFAULT '{}',
    throttle_rate INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (app_key, uid)
);
CREATE INDEX endpoint_app ON endpoint (app_key, key);

-- The payload lives here, once; deliveries point at it.
CREATE TABLE message (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    app_key INTEGER NOT NULL REFERENCES application(key) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    event_id TEXT,
    payload BLOB NOT NULL,
    channels TEXT,
    tags TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX message_app ON message (app_key, key);
CREATE INDEX message_event_id ON message (app_key, event_id) WHERE event_id IS NOT NULL;

-- The queue: ids and counters only. `due_at` is the next attempt while pending
-- and the lease expiry while sending, so one index finds both due and abandoned work.
CREATE TABLE delivery (
    key INTEGER PRIMARY KEY,
    app_key INTEGER NOT NULL,
    msg_key INTEGER NOT NULL REFERENCES message(key) ON DELETE CASCADE,
    endpoint_key INTEGER NOT NULL,
    status INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    trigger_type INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    claim_id INTEGER,
    updated_at INTEGER NOT NULL,
    UNIQUE (msg_key, endpoint_key)
);
CREATE INDEX delivery_due ON delivery (due_at) WHERE status IN (1, 3);
CREATE INDEX delivery_endpoint ON delivery (endpoint_key, status);

CREATE TABLE attempt (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    app_key INTEGER NOT NULL,
    msg_key INTEGER NOT NULL REFERENCES message(key) ON DELETE CASCADE,
    endpoint_key INTEGER NOT NULL,
    msg_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    trigger_type INTEGER NOT NULL,
    error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX attempt_msg ON attempt (msg_key, key);
CREATE INDEX attempt_endpoint ON attempt (endpoint_key, key);

CREATE TABLE idempotency (
    app_key INTEGER NOT NULL REFERENCES application(key) ON DELETE CASCADE,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    msg_key INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_key, key)
);
CREATE INDEX idempotency_age ON idempotency (created_at);
