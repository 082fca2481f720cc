-- The query string an inbound event arrived with: command actions may take
-- arguments from it, and `tidings listen` replays the request as it came.
ALTER TABLE inbound_event ADD COLUMN query TEXT NOT NULL DEFAULT '';
CREATE INDEX inbound_event_source_order ON inbound_event (source_key, msg_key);
