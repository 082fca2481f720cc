"""The two baselines: the raw aiohttp ceiling and Celery + Redis + requests."""

from __future__ import annotations

import time

import orjson

from benchmarks import celery_sender, services
from benchmarks.common import Context, Result, timed_drain
from benchmarks.procs import PYTHON, Process, ProcessFailed, python_module


def raw_ceiling(ctx: Context) -> Result:
    n = ctx.settings.raw_n
    out = ctx.scratch("raw") / "raw.json"
    argv = python_module(
        "benchmarks.raw_sender",
        "--port",
        str(ctx.receiver.port),
        "--n",
        str(n),
        "--concurrency",
        str(ctx.settings.raw_concurrency),
        "--out",
        str(out),
    )
    sender = Process("raw sender", argv, out.parent / "raw.log")
    drain = timed_drain(ctx, n, lambda: [ctx.procs.start(sender)], stop=False)
    if sender.wait(timeout=60) != 0:
        raise ProcessFailed(f"raw sender failed:\n{sender.tail()}")
    details = {**drain.details(), "sender": orjson.loads(out.read_bytes())}
    return Result({"raw_ceiling_rps": drain.rate}, details)


def celery_drain(ctx: Context) -> Result:
    n = ctx.settings.celery_n
    started_redis = services.ensure_redis()
    try:
        celery_sender.purge()
        enqueue_started = time.monotonic()
        celery_sender.enqueue(ctx.receiver.port, range(n))
        enqueue_s = time.monotonic() - enqueue_started
        log = ctx.scratch("celery") / "celery-worker.log"
        worker = Process("celery worker", [PYTHON, *celery_sender.worker_argv()], log)
        drain = timed_drain(ctx, n, lambda: [ctx.procs.start(worker)])
        celery_sender.purge()
    finally:
        if started_redis:
            services.stop_redis()
    details = {
        **drain.details(),
        "enqueue_s": round(enqueue_s, 3),
        "started_redis": started_redis,
        "processes": celery_sender.CONCURRENCY,
    }
    return Result({"celery_drain_rps": drain.rate}, details)
