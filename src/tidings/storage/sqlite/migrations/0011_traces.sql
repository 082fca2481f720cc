-- Traces: the W3C trace context of the request that created a message (its span's,
-- or the sender's own `traceparent`), and whether an endpoint is sent it.
ALTER TABLE message ADD COLUMN trace_context TEXT;
ALTER TABLE endpoint ADD COLUMN trace_propagation INTEGER NOT NULL DEFAULT 0;
