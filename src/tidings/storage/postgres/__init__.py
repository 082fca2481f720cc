"""The PostgreSQL backend: asyncpg, SKIP LOCKED claims, LISTEN/NOTIFY wake-ups."""
