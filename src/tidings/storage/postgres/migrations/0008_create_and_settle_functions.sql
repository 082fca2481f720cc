-- Creating a message, fanned out to the endpoints its API process chose from the
-- endpoints it keeps for the application, in one call: sent on its own (no
-- BEGIN/COMMIT round trips), it commits as it returns. Done from Python, the same
-- took eight round trips (BEGIN, idempotency lock and key, endpoints, insert, lane
-- locks, lane wake, COMMIT), each a wake-up of the server process and of the
-- API's event loop.
--
-- It writes nothing and returns NULL whenever the answer is not simply "created":
-- the application or its endpoints changed since the caller read them
-- (`p_endpoints_version`), the idempotency key is held or already used, or the
-- eventId is taken. The caller then runs the transaction of messages.create,
-- which reads everything again and answers those cases.
--
-- The eventId is checked, and the application read, before the key is claimed, so
-- that every NULL leaves nothing behind. Every step is messages.create's or lanes.wake's, each a statement of its own:
-- in a VOLATILE function every statement takes a new snapshot, so what follows a
-- lock sees every transaction that committed before the lock was granted.
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
    p_notify_channel text     -- NOTIFY this channel with the commit, if not NULL
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
    INSERT INTO message (id, app_key, event_type, event_id, payload, channels, tags, created_at)
    VALUES (p_id, p_app_key, p_event_type, p_event_id, p_payload, p_channels, p_tags,
            p_created_at)
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

-- lanes.settle in one call (it was a transaction of four round trips, after every
-- claim): raise each visited lane that no wake holds to its endpoint's earliest
-- queued delivery, or drop it when there is none. The locks are taken in one
-- statement and the lanes computed in the next, so the computation sees every wake
-- that committed before the locks; later wakes wait for this commit.
CREATE FUNCTION tidings_settle_lanes(p_endpoints bigint[], p_lock_space integer)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_settled bigint[];
BEGIN
    v_settled := ARRAY(
        SELECT e FROM (SELECT DISTINCT e FROM unnest(p_endpoints) AS e ORDER BY e) AS sorted
        WHERE pg_try_advisory_xact_lock(p_lock_space, hashint8(e))
    );
    IF cardinality(v_settled) = 0 THEN
        RETURN;
    END IF;
    WITH earliest AS (
        SELECT settled.endpoint_key, (
            SELECT min(due_at) FROM delivery
            WHERE delivery.endpoint_key = settled.endpoint_key AND status IN (1, 3)
        ) AS due_at
        FROM unnest(v_settled) AS settled(endpoint_key)
    ), emptied AS (
        DELETE FROM lane USING earliest
        WHERE lane.endpoint_key = earliest.endpoint_key AND earliest.due_at IS NULL
    )
    UPDATE lane SET next_check = earliest.due_at FROM earliest
    WHERE lane.endpoint_key = earliest.endpoint_key AND earliest.due_at IS NOT NULL;
END
$$;
