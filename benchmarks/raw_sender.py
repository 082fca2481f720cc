"""The raw ceiling: a bare aiohttp client (uvloop) POSTing the same signed payloads.

No storage, no queue, no retries: `--concurrency` requests in flight, message `seq`
to endpoint `seq % 100`, signed per Standard Webhooks with `tidings.signing.standard`
at send time, with the same headers Tidings sends. What the receiver counts per
second is the most any sender could deliver on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import orjson
import uvloop

from benchmarks import payloads
from tidings.signing.standard import sign_with_key


def signed_headers(seq: int, body: bytes) -> dict[str, str]:
    msg_id = f"msg_raw{seq:019d}"
    timestamp = int(time.time())
    signature = sign_with_key(
        payloads.endpoint_key(seq % payloads.ENDPOINTS), msg_id, timestamp, body
    )
    return {
        "content-type": "application/json",
        "user-agent": "tidings-bench-raw",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "svix-id": msg_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": signature,
    }


async def post_all(port: int, n: int, concurrency: int) -> Counter[int]:
    urls = [payloads.endpoint_url(i, port) for i in range(payloads.ENDPOINTS)]
    statuses: Counter[int] = Counter()
    next_seq = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for seq in next_seq:
                body = payloads.payload(seq)
                url = urls[seq % payloads.ENDPOINTS]
                async with session.post(url, data=body, headers=signed_headers(seq, body)) as r:
                    await r.read()
                    statuses[r.status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    payloads.variants()  # generate bodies before the clock starts
    started = time.time()
    statuses = uvloop.run(post_all(args.port, args.n, args.concurrency))
    elapsed = time.time() - started
    result = {"elapsed_s": elapsed, "statuses": {str(k): v for k, v in statuses.items()}}
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
