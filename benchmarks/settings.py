"""How big each scenario is, for the full suite and for `--quick`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class BenchSettings:
    mode: str
    # raw ceiling and Celery baselines
    raw_n: int
    raw_concurrency: int
    celery_n: int
    celery_processes: int
    # Tidings drain and ingest (fan-out 1), and fan-out 10
    drain_n: int
    ingest_concurrency: int
    fanout: int
    fanout_messages: int
    # open-loop latency against `tidings serve`
    e2e_rate: float
    e2e_duration: float
    warmup_s: float
    # backlog: drain rate with `backlog_large` pending vs with `backlog_small`
    backlog_small: int
    backlog_large: int
    backlog_window: int
    # failure storm
    storm_rate: float
    storm_duration: float
    storm_request_timeout: float
    # one application floods this many messages while the others send at the e2e
    # rate for `flood_duration` seconds (measured from the flood's start)
    flood_messages: int
    flood_duration: float
    # PostgreSQL
    pg_workers: int
    # receiving: signed GitHub requests to Tidings and to the adnanh/webhook peer (each)
    inbound_n: int
    # before each scenario, wait up to this long for the rest of the machine to be idle
    quiet_wait_s: float = 60.0
    # run a scenario again (keeping the least disturbed run) while others used the CPU
    noisy_retries: int = 0
    # a drain with no new delivery for this long is reported as incomplete
    stall_s: float = 60.0
    # slowest plausible rate, for timeouts: a run this slow is reported as incomplete
    min_rate: float = 150.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def timeout_for(self, count: int) -> float:
        return 30.0 + count / self.min_rate


FULL = BenchSettings(
    mode="full",
    raw_n=50_000,
    raw_concurrency=64,
    celery_n=50_000,
    celery_processes=8,
    drain_n=50_000,
    ingest_concurrency=64,
    fanout=10,
    fanout_messages=10_000,
    e2e_rate=500.0,
    e2e_duration=20.0,
    warmup_s=1.0,
    backlog_small=10_000,
    backlog_large=1_000_000,
    backlog_window=250_000,
    storm_rate=500.0,
    storm_duration=20.0,
    storm_request_timeout=2.0,
    flood_messages=20_000,
    flood_duration=8.0,
    pg_workers=2,
    inbound_n=20_000,
)

QUICK = replace(
    FULL,
    mode="quick",
    raw_n=3_000,
    celery_n=600,
    drain_n=3_000,
    fanout_messages=300,
    e2e_rate=200.0,
    e2e_duration=4.0,
    warmup_s=0.5,
    backlog_small=2_000,
    backlog_large=20_000,
    backlog_window=20_000,
    storm_rate=200.0,
    storm_duration=4.0,
    flood_messages=2_000,
    flood_duration=3.0,
    inbound_n=1_000,
    quiet_wait_s=0.0,
    noisy_retries=0,
    stall_s=15.0,
)
