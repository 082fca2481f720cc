-- The initial schema. Times are integer milliseconds since the epoch, as in every
-- backend. Later migrations must stay additive (new nullable or defaulted columns,
-- new tables, new indexes) so processes still running the previous release keep
-- working while a new one migrates; the code names its columns and never selects *.

-- Tokens: only the SHA-256 of each bearer token is kept.
CREATE TABLE token (
    hash text PRIMARY KEY,
    name text NOT NULL,
    created_at bigint NOT NULL
);

CREATE TABLE application (
    key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    uid text UNIQUE,
    name text NOT NULL,
    throttle_rate bigint,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);

CREATE TABLE event_type (
    key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text NOT NULL,
    archived boolean NOT NULL DEFAULT false,
    deprecated boolean NOT NULL DEFAULT false,
    -- json, not jsonb: schemas are shown back as written (key order kept) and never queried.
    schemas json,
    group_name text,
    feature_flags text[],
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);

CREATE TABLE endpoint (
    key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    app_key bigint NOT NULL REFERENCES application (key) ON DELETE CASCADE,
    uid text,
    url text NOT NULL,
    description text NOT NULL DEFAULT '',
    disabled boolean NOT NULL DEFAULT false,
    filter_types text[],
    channels text[],
    secret text NOT NULL,
    retired_secrets jsonb NOT NULL DEFAULT '[]',
    headers jsonb NOT NULL DEFAULT '{}',
    throttle_rate bigint,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    UNIQUE (app_key, uid)
);
CREATE INDEX endpoint_app ON endpoint (app_key, key);

-- The payload lives here, once; deliveries point at it.
CREATE TABLE message (
    key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    app_key bigint NOT NULL REFERENCES application (key) ON DELETE CASCADE,
    event_type text NOT NULL,
    event_id text,
    payload bytea NOT NULL,
    channels text[],
    tags text[],
    created_at bigint NOT NULL
);
CREATE INDEX message_app ON message (app_key, key);
CREATE INDEX message_event_id ON message (app_key, event_id) WHERE event_id IS NOT NULL;

-- The queue: ids and counters only. `due_at` is the next attempt while pending
-- and the lease expiry while sending, so one partial index finds both due and
-- abandoned work, and holds only the rows still in flight.
CREATE TABLE delivery (
    key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_key bigint NOT NULL,
    msg_key bigint NOT NULL REFERENCES message (key) ON DELETE CASCADE,
    -- No foreign key: a deleted endpoint's deliveries stay, cancelled, beside its attempts.
    endpoint_key bigint NOT NULL,
    status smallint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    trigger_type smallint NOT NULL DEFAULT 0,
    due_at bigint NOT NULL,
    claim_id bigint,
    updated_at bigint NOT NULL,
    UNIQUE (msg_key, endpoint_key)
);
CREATE INDEX delivery_due ON delivery (due_at) WHERE status IN (1, 3);
CREATE INDEX delivery_endpoint ON delivery (endpoint_key, status);

CREATE TABLE attempt (
    key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    app_key bigint NOT NULL,
    msg_key bigint NOT NULL REFERENCES message (key) ON DELETE CASCADE,
    endpoint_key bigint NOT NULL,
    msg_id text NOT NULL,
    endpoint_id text NOT NULL,
    url text NOT NULL,
    status smallint NOT NULL,
    response_status_code integer NOT NULL,
    response text NOT NULL,
    duration_ms integer NOT NULL,
    trigger_type smallint NOT NULL,
    error text,
    created_at bigint NOT NULL
);
CREATE INDEX attempt_msg ON attempt (msg_key, key);
CREATE INDEX attempt_endpoint ON attempt (endpoint_key, key);

-- msg_key is NULL only inside the creating transaction: the key is claimed
-- first, so a concurrent request with the same key waits on this row.
CREATE TABLE idempotency (
    app_key bigint NOT NULL REFERENCES application (key) ON DELETE CASCADE,
    key text NOT NULL,
    fingerprint text NOT NULL,
    msg_key bigint,
    created_at bigint NOT NULL,
    PRIMARY KEY (app_key, key)
);
CREATE INDEX idempotency_age ON idempotency (created_at);
