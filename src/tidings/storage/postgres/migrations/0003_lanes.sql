-- One lane per endpoint with queued deliveries. Claims take turns between the
-- lanes that have work due, least recently served first, and skip endpoints the
-- worker cannot send more to right now, so one endpoint's backlog (or one
-- application's flood) never queues in front of everyone else's messages.
CREATE TABLE lane (
    -- No foreign key, as on delivery: a deleted endpoint's lane settles away.
    endpoint_key bigint PRIMARY KEY,
    -- A lower bound on when this endpoint next has a delivery due.
    next_check bigint NOT NULL,
    served_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX lane_due ON lane (next_check);

INSERT INTO lane (endpoint_key, next_check)
SELECT endpoint_key, min(due_at) FROM delivery WHERE status IN (1, 3) GROUP BY endpoint_key;

-- Each lane's claim walks its endpoint's queue oldest first; `key` breaks ties so
-- a claim can continue exactly where its first pass stopped.
CREATE INDEX delivery_lane ON delivery (endpoint_key, due_at, key) WHERE status IN (1, 3);
DROP INDEX delivery_due;
