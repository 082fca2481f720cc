"""`tidings migrate [--status]`: apply the pending schema migrations, listing each,
or only show which are applied and which are pending."""

from __future__ import annotations

from tidings.config import Settings, key_ring
from tidings.storage import MigrationStatus, Store, open_store


async def run(settings: Settings, status_only: bool) -> None:
    store = open_store(settings.database_url, keys=key_ring(settings))
    before = await store.migration_status()  # read before opening, which applies
    if status_only:
        _print_status(before)
        return
    await _apply(store, before)


async def _apply(store: Store, before: MigrationStatus) -> None:
    await store.open()  # opening applies what is pending
    try:
        after = await store.migration_status()
    finally:
        await store.close()
    # What was pending and is now applied: by this process, or by another one
    # starting at the same moment (each migration is applied once, whoever does it).
    applied_now = [name for name in before.pending if name in after.applied]
    for name in applied_now:
        print(f"applied {name}")
    count = _count(after.applied)
    if applied_now:
        print(f"database is up to date ({count})")
    else:
        print(f"nothing to apply: database is up to date ({count})")


def _print_status(status: MigrationStatus) -> None:
    for name in status.applied:
        print(f"applied  {name}")
    for name in status.pending:
        print(f"pending  {name}")
    if status.current:
        print(f"database is up to date ({_count(status.applied)})")
    else:
        them = "them" if len(status.pending) > 1 else "it"
        print(f"{len(status.pending)} pending: `tidings migrate` (or any start) applies {them}")


def _count(applied: tuple[str, ...]) -> str:
    return f"{len(applied)} migration{'s' if len(applied) != 1 else ''} applied"
