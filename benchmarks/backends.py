"""Where a scenario's Tidings keeps its data: a SQLite file or a PostgreSQL database.

The throughput and latency scenarios run the same way on either; each run gets a
deployment of its own (a new file, or a new database dropped afterwards).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from benchmarks import services
from benchmarks.common import Context
from benchmarks.services import Tidings


@dataclass(frozen=True)
class Backend:
    name: str
    # Prepended to every metric a scenario reports on this backend.
    metric_prefix: str
    # The processes that receive and deliver in the latency scenarios, as deployed on
    # this backend: one `serve` on a SQLite file; on PostgreSQL, which exists to
    # spread the work over processes, `tidings api` (one HTTP process per core) and
    # a `tidings worker`.
    serving: tuple[str, ...]
    # TIDINGS_API_PROCESSES for those processes: `serve` stays one process (with
    # more it would start API processes and a worker process of its own).
    serving_api_processes: str

    @contextlib.contextmanager
    def deploy(self, ctx: Context, label: str, **settings: str) -> Iterator[Tidings]:
        """A fresh Tidings deployment for one run; its processes are the caller's to
        stop before the block ends."""
        folder = ctx.scratch(label)
        if self is SQLITE:
            yield Tidings.on_sqlite(folder, **settings)
            return
        database = f"tidings_bench_{secrets.token_hex(4)}"
        url = services.create_database(database)
        try:
            tidings = Tidings(folder, url, dict(settings))
            tidings.migrate(ctx.procs)
            yield tidings
        finally:
            services.drop_database(database)

    def metrics(self, found: dict[str, float | None]) -> dict[str, float | None]:
        return {self.metric_prefix + name: value for name, value in found.items()}


SQLITE = Backend("sqlite", "", ("serve",), "1")
POSTGRES = Backend("postgresql", "pg_", ("api", "worker"), services.API_PROCESSES)
