"""SQLite's write engine: one group-commit writer per process (writer), turns at the
write lock shared between processes (turns, watchdog), the log's sync outside the lock
(wal_sync), WAL checkpoints on a thread of their own (checkpoint), and the inotify
wake-up of idle workers when another process writes (wal_watch)."""
