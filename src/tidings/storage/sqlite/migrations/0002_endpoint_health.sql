-- Start of the current run of failed attempts; NULL after any success.
ALTER TABLE endpoint ADD COLUMN failing_since INTEGER;
