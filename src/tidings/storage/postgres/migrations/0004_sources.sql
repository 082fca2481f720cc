-- Sources: inbound URLs that verify webhooks from third parties. Each owns an
-- internal application; verified events are messages of it, and its endpoints are
-- the source's forward targets, so forwarding reuses the delivery machinery.
CREATE TABLE source (
    key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    uid text UNIQUE,
    name text NOT NULL,
    type text NOT NULL,
    -- The verifier's config, secrets included; never shown back by the API.
    config jsonb NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    app_key bigint NOT NULL UNIQUE REFERENCES application(key) ON DELETE CASCADE,
    -- The secret part of the ingest URL; the previous one works until it expires.
    token text NOT NULL UNIQUE,
    previous_token text,
    previous_token_expires_at bigint,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
CREATE INDEX source_previous_token ON source (previous_token) WHERE previous_token IS NOT NULL;

-- What arrived with each verified event besides its body (the message's payload).
CREATE TABLE inbound_event (
    msg_key bigint PRIMARY KEY REFERENCES message(key) ON DELETE CASCADE,
    source_key bigint NOT NULL REFERENCES source(key) ON DELETE CASCADE,
    delivery_id text,
    headers jsonb NOT NULL DEFAULT '{}',
    received_at bigint NOT NULL
);
CREATE INDEX inbound_event_source ON inbound_event (source_key);

-- Requests a source refused, the latest few per source, for the operator.
CREATE TABLE source_rejection (
    key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_key bigint NOT NULL REFERENCES source(key) ON DELETE CASCADE,
    status_code integer NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL,
    received_at bigint NOT NULL
);
CREATE INDEX source_rejection_source ON source_rejection (source_key, key);
