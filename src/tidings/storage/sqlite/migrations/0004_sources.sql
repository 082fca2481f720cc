-- Sources: inbound URLs that verify webhooks from third parties. Each owns an
-- internal application; verified events are messages of it, and its endpoints are
-- the source's forward targets, so forwarding reuses the delivery machinery.
CREATE TABLE source (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    uid TEXT UNIQUE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    -- The verifier's config, secrets included; never shown back by the API.
    config TEXT NOT NULL DEFAULT '{}',
    metadata TEXT NOT NULL DEFAULT '{}',
    app_key INTEGER NOT NULL UNIQUE REFERENCES application(key) ON DELETE CASCADE,
    -- The secret part of the ingest URL; the previous one works until it expires.
    token TEXT NOT NULL UNIQUE,
    previous_token TEXT,
    previous_token_expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX source_previous_token ON source (previous_token) WHERE previous_token IS NOT NULL;

-- What arrived with each verified event besides its body (the message's payload).
CREATE TABLE inbound_event (
    msg_key INTEGER PRIMARY KEY REFERENCES message(key) ON DELETE CASCADE,
    source_key INTEGER NOT NULL REFERENCES source(key) ON DELETE CASCADE,
    delivery_id TEXT,
    headers TEXT NOT NULL DEFAULT '{}',
    received_at INTEGER NOT NULL
);

CREATE INDEX inbound_event_source ON inbound_event (source_key);

-- Requests a source refused, the latest few per source, for the operator.
CREATE TABLE source_rejection (
    key INTEGER PRIMARY KEY,
    source_key INTEGER NOT NULL REFERENCES source(key) ON DELETE CASCADE,
    status_code INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX source_rejection_source ON source_rejection (source_key, key);
