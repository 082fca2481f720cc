-- Tokens get a kind (admin, application, portal), the application they are bound
-- to, a portal token's capabilities (comma-separated; NULL means all) and
-- read-only flag, an expiry, and the time they were revoked or expired by
-- expire-all. Tokens from before were all admin tokens, and stay so.
ALTER TABLE token ADD COLUMN id text;
ALTER TABLE token ADD COLUMN kind text NOT NULL DEFAULT 'admin';
ALTER TABLE token ADD COLUMN app_key bigint;
ALTER TABLE token ADD COLUMN capabilities text;
ALTER TABLE token ADD COLUMN read_only boolean NOT NULL DEFAULT false;
ALTER TABLE token ADD COLUMN session_id text;
ALTER TABLE token ADD COLUMN expires_at bigint;
ALTER TABLE token ADD COLUMN ends_at bigint;
-- The order tokens were issued in, for listing.
ALTER TABLE token ADD COLUMN key bigserial;
UPDATE token SET id = 'tok_' || substr(hash, 1, 22) WHERE id IS NULL;
CREATE UNIQUE INDEX token_id ON token (id);
CREATE INDEX token_app ON token (app_key) WHERE app_key IS NOT NULL;
