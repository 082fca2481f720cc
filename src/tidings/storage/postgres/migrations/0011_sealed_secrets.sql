-- Secrets are sealed (AES-GCM) before they are written: endpoint secrets, retired
-- secrets and headers, source configs and ingest tokens. A sealed token cannot be
-- looked up by equality, so each source also keeps keyed hashes of its tokens.
-- Rows from before are sealed by the first start after this migration.
ALTER TABLE source ADD COLUMN token_lookup text;
ALTER TABLE source ADD COLUMN previous_token_lookup text;
CREATE UNIQUE INDEX source_token_lookup ON source (token_lookup);
CREATE INDEX source_previous_token_lookup ON source (previous_token_lookup)
    WHERE previous_token_lookup IS NOT NULL;
