-- One lane per endpoint with queued deliveries. Claims take turns between the
-- lanes that have work due, least recently served first, and skip endpoints the
-- worker cannot send more to right now, so one endpoint's backlog (or one
-- application's flood) never queues in front of everyone else's messages.
CREATE TABLE lane (
    endpoint_key INTEGER PRIMARY KEY,
    -- No delivery to this endpoint is due before this time.
    next_check INTEGER NOT NULL,
    served_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX lane_due ON lane (next_check, served_at);

INSERT INTO lane (endpoint_key, next_check)
SELECT endpoint_key, min(due_at) FROM delivery WHERE status IN (1, 3) GROUP BY endpoint_key;

CREATE INDEX delivery_lane ON delivery (endpoint_key, due_at) WHERE status IN (1, 3);
DROP INDEX delivery_due;
