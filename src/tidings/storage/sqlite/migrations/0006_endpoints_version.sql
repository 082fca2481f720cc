-- Bumped in the same transaction as any change to the application's endpoints
-- (create, update, disable, delete), so a process that keeps an application's
-- endpoints between messages knows exactly when to read them again.
ALTER TABLE application ADD COLUMN endpoints_version INTEGER NOT NULL DEFAULT 0;
