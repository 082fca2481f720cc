-- Start of the current run of failed attempts; NULL after any success. Additive:
-- processes of the previous release name their columns and never see it.
ALTER TABLE endpoint ADD COLUMN failing_since bigint;
