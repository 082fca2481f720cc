"""CPU per request of the delivery client, against aiohttp's, in alternating rounds.

    python -m benchmarks.client_cost [--rounds 5] [--n 20000] [--src before=/path/to/src]

Each round starts one sender process per configuration, in turn, against the
same benchmark receiver: `tidings` sends through `tidings.delivery.request.send`
(sign, build headers, the lean client: what the worker does per attempt),
`aiohttp` through an aiohttp session with the same signed headers. `--src
NAME=PATH` adds a `tidings` sender importing Tidings from another checkout's
`src` (e.g. the commit before a change). The sender's own CPU time (user + system)
per request is what the client costs; the receiver shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks import payloads
from benchmarks.procs import PYTHON, ROOT, Process, Processes, python_module, wait_until_http
from benchmarks.services import free_port


async def _send_tidings(port: int, n: int, concurrency: int) -> Counter[int]:
    from tidings.delivery import request
    from tidings.delivery.guard import AddressPolicy, GuardedResolver
    from tidings.delivery.http1 import Http1Client
    from tidings.domain.models import ClaimedDelivery, TriggerType

    client = Http1Client(GuardedResolver(AddressPolicy(allow_loopback=True)))
    statuses: Counter[int] = Counter()
    sequence = iter(range(n))

    async def worker() -> None:
        for seq in sequence:
            index = seq % payloads.ENDPOINTS
            delivery = ClaimedDelivery(
                delivery_key=seq,
                claim_id=1,
                attempts_made=0,
                trigger_type=TriggerType.SCHEDULED,
                msg_id=f"msg_cc{seq:019d}",
                msg_key=seq,
                app_key=1,
                endpoint_id=f"ep_{index}",
                endpoint_key=index,
                url=payloads.endpoint_url(index, port),
                payload=payloads.payload(seq),
                secrets=[payloads.endpoint_secret(index)],
                headers={},
            )
            outcome = await request.send(client, delivery, 15.0)
            statuses[outcome.status_code] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    client.close()
    return statuses


async def _send_aiohttp(port: int, n: int, concurrency: int) -> Counter[int]:
    from benchmarks.raw_sender import post_all

    return await post_all(port, n, concurrency)


def send(args: argparse.Namespace) -> None:
    import uvloop

    payloads.variants()  # generate bodies before the clock starts
    sender = _send_tidings if args.client == "tidings" else _send_aiohttp
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    statuses = uvloop.run(sender(args.port, args.n, args.concurrency))
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "statuses": dict(statuses)}))


def _round(name: str, src: str | None, port: int, args: argparse.Namespace) -> dict[str, float]:
    client = "aiohttp" if name == "aiohttp" else "tidings"
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{ROOT}"
    argv = python_module(
        "benchmarks.client_cost",
        "send",
        "--client",
        client,
        "--port",
        str(port),
        "--n",
        str(args.n),
        "--concurrency",
        str(args.concurrency),
    )
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    ok = result["statuses"].get("200", 0)
    if ok != args.n:
        raise RuntimeError(f"{name}: only {ok} of {args.n} answered 200: {result['statuses']}")
    return {"cpu_us": result["cpu_s"] / args.n * 1e6, "rps": args.n / result["wall_s"]}


def compare(args: argparse.Namespace) -> None:
    configurations: dict[str, str | None] = {"tidings": None, "aiohttp": None}
    for extra in args.src:
        name, _, path = extra.partition("=")
        configurations[name] = str(Path(path).resolve())
    port = free_port()
    log = Path(args.workdir) / "client-cost-receiver.log"
    with Processes() as procs:
        receiver = procs.start(
            Process("receiver", [PYTHON, "-m", "benchmarks.receiver", "--port", str(port)], log)
        )
        wait_until_http(f"http://127.0.0.1:{port}/_ctl/stats", receiver)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in configurations}
        for number in range(args.rounds):
            for name, src in configurations.items():
                sample = _round(name, src, port, args)
                samples[name].append(sample)
                print(
                    f"round {number + 1} {name:>10}: {sample['cpu_us']:7.1f} µs CPU/request, "
                    f"{sample['rps']:8.0f} requests/s",
                    flush=True,
                )
    print("\nmedians:")
    for name, runs in samples.items():
        cpu = statistics.median(run["cpu_us"] for run in runs)
        rps = statistics.median(run["rps"] for run in runs)
        print(f"  {name:>10}: {cpu:7.1f} µs CPU/request, {rps:8.0f} requests/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.client_cost", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sender = sub.add_parser("send")
    sender.add_argument("--client", choices=["tidings", "aiohttp"], required=True)
    sender.add_argument("--port", type=int, required=True)
    for command in (sender, parser):
        command.add_argument("--n", type=int, default=20000)
        command.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--src", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--workdir", default="/tmp")
    args = parser.parse_args(argv)
    if args.command == "send":
        send(args)
    else:
        compare(args)


if __name__ == "__main__":
    sys.exit(main())
