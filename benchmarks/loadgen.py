"""Load generator process: POSTs messages to the Tidings API with aiohttp on uvloop.

* `ingest`: closed loop, `--concurrency` requests in flight until `--n` are accepted;
* `open`: open loop, a fixed `--rate` of messages per second for `--duration` seconds,
  each sent at its scheduled time whether or not earlier ones were answered.

Message `seq` goes to application `apps[seq % len(apps)]` and is stamped with the
time just before its POST. The result is written as JSON to `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

from benchmarks import payloads
from benchmarks.stats import percentiles


@dataclass
class Totals:
    accepted: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    response_ms: list[float] = field(default_factory=list)


class Sender:
    def __init__(self, session: aiohttp.ClientSession, url: str, apps: list[str]) -> None:
        self._session = session
        self._urls = [f"{url}/api/v1/app/{app}/msg" for app in apps]
        self.totals = Totals()

    async def send(self, seq: int) -> None:
        started = time.perf_counter()
        body = payloads.message_request(seq)
        try:
            async with self._session.post(self._urls[seq % len(self._urls)], data=body) as reply:
                await reply.read()
                status = str(reply.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        self.totals.response_ms.append((time.perf_counter() - started) * 1000)
        self.totals.statuses[status] += 1
        self.totals.accepted += status == "202"


async def closed_loop(sender: Sender, n: int, concurrency: int) -> None:
    next_seq = iter(range(n))

    async def worker() -> None:
        for seq in next_seq:
            await sender.send(seq)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def open_loop(sender: Sender, rate: float, duration: float) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks: set[asyncio.Task[None]] = set()
    for seq in range(int(rate * duration)):
        delay = start + seq / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(sender.send(seq))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    limit = args.concurrency if args.mode == "ingest" else 0
    connector = aiohttp.TCPConnector(limit=limit)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout
    ) as session:
        sender = Sender(session, args.url, args.apps.split(","))
        started = time.time()
        if args.mode == "ingest":
            await closed_loop(sender, args.n, args.concurrency)
        else:
            await open_loop(sender, args.rate, args.duration)
        finished = time.time()
    return summary(sender.totals, started, finished)


def summary(totals: Totals, started: float, finished: float) -> dict[str, Any]:
    elapsed = finished - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        # The load generator's own CPU: it shares the two cores with what it measures.
        "loadgen_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "started_at": started,
        "finished_at": finished,
        "elapsed_s": elapsed,
        "accepted": totals.accepted,
        "accepted_per_s": totals.accepted / elapsed if elapsed > 0 else None,
        "statuses": dict(totals.statuses),
        "response_ms": percentiles(totals.response_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("ingest", "open"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--apps", required=True, help="comma-separated application uids")
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = uvloop.run(run(args))
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
