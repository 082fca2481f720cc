"""The webhook receiver: one aiohttp (uvloop) process with a site on each endpoint host.

Endpoint `i` is `http://127.0.0.{i+2}:PORT/hook/{i}`. Every POST is counted and
time-stamped; a delivery is identified by (webhook-id, endpoint), so at-least-once
duplicates are counted once. The runner steers it over `http://127.0.0.1:PORT/_ctl/`:

* `POST /_ctl/reset` with `{"target": N, "failing": {"7": "error", "8": "hang"},
  "record": true}` clears the counters and sets the per-endpoint behaviour ("error":
  500 at once; "hang": no answer within a minute; "slow": 200 after 100 ms, not
  counted as a delivery);
* `GET /_ctl/stats` reports counts and the receipt times of the first and N-th delivery;
* `GET /_ctl/latencies` reports per delivery `[endpoint, sent_at, latency_ms]`, where
  latency = receipt time - the send time stamped in the payload (same machine clock).

One request in `VERIFY_EVERY` has its Standard Webhooks signature checked.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import uvloop
from aiohttp import web

from benchmarks import payloads
from tidings.signing.standard import verify

VERIFY_EVERY = 50
HANG_SECONDS = 60.0
SLOW_SECONDS = 0.1


@dataclass
class Tally:
    """What arrived since the last reset."""

    target: int = 0
    failing: dict[int, str] = field(default_factory=dict)
    record: bool = False
    requests: int = 0
    failed: int = 0
    delivered: set[tuple[str, int]] = field(default_factory=set)
    first_at: float | None = None
    last_at: float | None = None
    target_at: float | None = None
    verified: int = 0
    bad_signatures: int = 0
    endpoints: array[int] = field(default_factory=lambda: array("H"))
    sent: array[float] = field(default_factory=lambda: array("d"))
    latencies: array[float] = field(default_factory=lambda: array("d"))

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failed": self.failed,
            "delivered": len(self.delivered),
            "duplicates": self.requests - self.failed - len(self.delivered),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "target": self.target,
            "target_at": self.target_at,
            "verified": self.verified,
            "bad_signatures": self.bad_signatures,
        }


class Receiver:
    def __init__(self) -> None:
        self.tally = Tally()

    async def hook(self, request: web.Request) -> web.Response:
        now = time.time()
        body = await request.read()
        tally = self.tally
        index = int(request.match_info["index"])
        tally.requests += 1
        if tally.first_at is None:
            tally.first_at = now
        behaviour = tally.failing.get(index)
        if behaviour is not None:
            return await self._misbehave(behaviour)
        self._count(request, index, body, now)
        return web.Response()

    async def _misbehave(self, behaviour: str) -> web.Response:
        if behaviour == "slow":  # a busy but working endpoint, outside the counts
            await asyncio.sleep(SLOW_SECONDS)
            return web.Response()
        self.tally.failed += 1
        if behaviour == "hang":
            await asyncio.sleep(HANG_SECONDS)  # cancelled when the client gives up
        return web.Response(status=500)

    def _count(self, request: web.Request, index: int, body: bytes, now: float) -> None:
        tally = self.tally
        msg_id = request.headers.get("webhook-id", "")
        tally.delivered.add((msg_id, index))
        tally.last_at = now
        if tally.target_at is None and len(tally.delivered) >= tally.target > 0:
            tally.target_at = now
        if tally.record:
            sent = payloads.sent_at(body)
            if sent is not None:
                tally.endpoints.append(index)
                tally.sent.append(sent)
                tally.latencies.append((now - sent) * 1000)
        if tally.requests % VERIFY_EVERY == 0:
            self._verify(request, index, msg_id, body)

    def _verify(self, request: web.Request, index: int, msg_id: str, body: bytes) -> None:
        ok = verify(
            payloads.endpoint_secret(index),
            msg_id,
            int(request.headers.get("webhook-timestamp", "0")),
            body,
            request.headers.get("webhook-signature", ""),
        )
        self.tally.verified += 1
        self.tally.bad_signatures += not ok

    async def reset(self, request: web.Request) -> web.Response:
        config = await request.json()
        self.tally = Tally(
            target=int(config.get("target", 0)),
            failing={int(k): v for k, v in config.get("failing", {}).items()},
            record=bool(config.get("record", False)),
        )
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.tally.stats())

    async def latencies(self, request: web.Request) -> web.Response:
        tally = self.tally
        rows = list(zip(tally.endpoints, tally.sent, tally.latencies, strict=True))
        return web.json_response({"rows": rows})


def build_app(receiver: Receiver) -> web.Application:
    app = web.Application()
    app.router.add_post("/hook/{index:\\d+}", receiver.hook)
    app.router.add_post("/_ctl/reset", receiver.reset)
    app.router.add_get("/_ctl/stats", receiver.stats)
    app.router.add_get("/_ctl/latencies", receiver.latencies)
    return app


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(port: int) -> None:
    runner = web.AppRunner(build_app(Receiver()), access_log=None, handler_cancellation=True)
    await runner.setup()
    hosts = ["127.0.0.1", *(payloads.host(i) for i in range(payloads.ENDPOINTS))]
    for address in hosts:
        await web.TCPSite(runner, address, port, backlog=1024, reuse_address=True).start()
    print(f"receiver listening on {len(hosts)} addresses, port {port}", flush=True)
    try:
        await asyncio.Event().wait()  # until SIGTERM ends the process
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
