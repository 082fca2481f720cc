-- Deliveries were indexed by (endpoint_key, status) for every status, so each
-- delivery's moves (pending -> sending -> succeeded) deleted and re-inserted an
-- entry in two distant parts of that index. Queued deliveries are already found
-- per endpoint through delivery_lane (statuses 1 and 3); the only other lookup by
-- endpoint and status is recovery, which wants the failed ones (status 2). Only
-- those stay indexed, and a delivery that succeeds never touches this index.
CREATE INDEX delivery_failed ON delivery (endpoint_key) WHERE status = 2;
DROP INDEX delivery_endpoint;
