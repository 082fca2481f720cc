-- Traces: the W3C trace context of the request that created a message (its span's,
-- or the sender's own `traceparent`), and whether an endpoint is sent it.
ALTER TABLE message ADD COLUMN trace_context text;
ALTER TABLE endpoint ADD COLUMN trace_propagation boolean NOT NULL DEFAULT false;

-- Creating a message in one call (migration 0008) keeps its trace context too: the
-- same function with one more parameter, as a function's parameters are its name.
DROP FUNCTION tidings_create_message(
    text, bigint, text, text, bigint, text, text, bytea, text[], text[], bigint, bigint[],
    text, text, bigint, integer[], text
);
CREATE FUNCTION tidings_create_message(
    p_id text,
    p_app_key bigint,
    p_app_id text,
    p_app_uid text,
    p_endpoints_version bigint,
    p_event_type text,
    p_event_id text,
    p_payload bytea,
    p_channels text[],
    p_tags text[],
    p_created_at bigint,
    p_endpoints bigint[],
    p_idempotency_key text,
    p_fingerprint text,
    p_dedup_since bigint,
    p_lock_spaces integer[],  -- idempotency keys, eventIds, lanes
    p_notify_channel text,    -- NOTIFY this channel with the commit, if not NULL
    p_trace_context text      -- the W3C trace context of the creating request, or NULL
) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_key bigint;
    v_claimed boolean;
    v_endpoints bigint[] := ARRAY(SELECT DISTINCT e FROM unnest(p_endpoints) AS e ORDER BY e);
BEGIN
    IF p_event_id IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(
            p_lock_spaces[2], hashtext(p_app_key::text || ':' || p_event_id)
        );
        IF EXISTS (
            SELECT 1 FROM message
            WHERE app_key = p_app_key AND event_id = p_event_id AND created_at > p_dedup_since
        ) THEN
            RETURN NULL;
        END IF;
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        IF NOT pg_try_advisory_xact_lock(
            p_lock_spaces[1], hashtext(p_app_key::text || ':' || p_idempotency_key)
        ) THEN
            RETURN NULL;
        END IF;
    END IF;
    -- Read after the locks, as messages.create reads the endpoints: a change that
    -- committed while this call waited for the eventId's lock is seen.
    PERFORM 1 FROM application
    WHERE key = p_app_key AND id = p_app_id AND uid IS NOT DISTINCT FROM p_app_uid
        AND endpoints_version = p_endpoints_version;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO idempotency (app_key, key, fingerprint, msg_key, created_at)
        VALUES (p_app_key, p_idempotency_key, p_fingerprint, NULL, p_created_at)
        ON CONFLICT (app_key, key) DO UPDATE
            SET fingerprint = excluded.fingerprint, msg_key = NULL,
                created_at = excluded.created_at
            WHERE idempotency.created_at <= p_dedup_since
        RETURNING true INTO v_claimed;
        IF v_claimed IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO message (id, app_key, event_type, event_id, payload, channels, tags, created_at,
        trace_context)
    VALUES (p_id, p_app_key, p_event_type, p_event_id, p_payload, p_channels, p_tags,
            p_created_at, p_trace_context)
    RETURNING key INTO v_key;
    IF p_idempotency_key IS NOT NULL THEN
        UPDATE idempotency SET msg_key = v_key
        WHERE app_key = p_app_key AND key = p_idempotency_key;
    END IF;
    IF cardinality(v_endpoints) = 0 THEN
        RETURN v_key;
    END IF;
    INSERT INTO delivery (app_key, msg_key, endpoint_key, status, due_at, updated_at)
    SELECT p_app_key, v_key, e, 1, p_created_at, p_created_at FROM unnest(v_endpoints) AS e;
    -- Held until commit, so a settle cannot raise these lanes past the new deliveries.
    PERFORM count(pg_advisory_xact_lock_shared(p_lock_spaces[3], hashint8(e)))
    FROM unnest(v_endpoints) AS e;
    -- Create the missing lanes, in key order; one that another transaction creates
    -- meanwhile is waited for. Then lower those that are later, the new ones of
    -- others included (a new statement sees them). Where a lane is low enough
    -- nothing is written and no row is locked. New lanes first, then existing ones:
    -- the order in which lanes.wake's statement takes them, so the two cannot
    -- deadlock over a pair of lanes.
    INSERT INTO lane (endpoint_key, next_check)
    SELECT e, p_created_at FROM unnest(v_endpoints) AS e
    WHERE NOT EXISTS (SELECT 1 FROM lane WHERE lane.endpoint_key = e)
    ORDER BY e
    ON CONFLICT (endpoint_key) DO NOTHING;
    UPDATE lane SET next_check = p_created_at
    WHERE endpoint_key = ANY (v_endpoints) AND next_check > p_created_at;
    -- Delivered to listeners when this commits: a wake-up with no round trip of its own.
    IF p_notify_channel IS NOT NULL THEN
        PERFORM pg_notify(p_notify_channel, '');
    END IF;
    RETURN v_key;
END
$$;
