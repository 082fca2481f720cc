"""Receiving: GitHub webhooks verified, committed and answered per second, next to the
Debian `webhook` package (adnanh/webhook 2.8.0) running the same `/bin/true`.

Both get the same traffic from this module run as a load generator process: 64 aiohttp
clients in a closed loop POSTing GitHub `push` events of 1-2 KB, each signed
(`X-Hub-Signature-256`) and with its own `X-GitHub-Delivery`.

* Tidings: `tidings serve --config --api-processes N` (N HTTP processes, one per
  core, and a worker process, under one supervisor and one SQLite file) with one
  `github` source whose action runs `/bin/true`; then the same as two commands,
  `tidings api` and `tidings worker`; then in one `tidings serve` process. A 200
  comes after the signature is checked and the event committed; the action runs
  afterwards, in the worker. Its runs are counted from the attempts in the SQLite
  file.
* Peer: `webhook -hooks hooks.json`, one hook running `/bin/true` and nothing else (it
  neither verifies nor stores, and answers before the command runs); then the same hook
  with a `payload-hmac-sha256` rule on the signature header.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import hmac
import os
import random
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import requests
import uvloop

from benchmarks import loadgen
from benchmarks.common import Context, Result, profiled
from benchmarks.procs import Process, ProcessFailed, python_module, wait_until_http
from benchmarks.services import API_PROCESSES, Tidings, free_port
from benchmarks.stats import rate
from tidings.domain.statuses import DeliveryStatus

SECRET = "bench-inbound-github-secret"
SOURCE_UID = "bench"
ACTION_CONCURRENCY = 8
PEER, PEER_PACKAGE = "/usr/bin/webhook", "webhook"
# `stdin = false`: the peer does not pipe the body to its command either.
CONFIG = f"""\
[[source]]
uid = "{SOURCE_UID}"
type = "github"
secrets = ["{SECRET}"]

  [[source.action]]
  name = "true"
  command = ["/bin/true"]
  concurrency = {ACTION_CONCURRENCY}
  stdin = false
"""
SUCCEEDED = "SELECT count(*), min(created_at), max(created_at) FROM attempt WHERE status = ?"
WAITING = "SELECT count(*) FROM delivery WHERE status IN (?, ?)"
VARIANTS = 200


@dataclass(frozen=True)
class Deployment:
    name: str
    commands: tuple[str, ...]  # one process each (and their children); the first serves HTTP
    api_processes: str


# The peer is one command, one Go process using both cores. Tidings' matching
# deployment is one command too: `serve --api-processes N`, one HTTP process per core
# (HTTP, signature checks and group commits) and a worker process (the actions'
# claims, spawns and records) in the same session, where its lower CPU priority
# ranks it below the HTTP processes. The same processes started as two commands, and
# one `serve` process (whose Python code runs on one core), are measured too.
SCALED = Deployment("serve-scaled", ("serve",), API_PROCESSES)
SPLIT = Deployment("api-worker", ("api", "worker"), API_PROCESSES)
ONE_PROCESS = Deployment("serve", ("serve",), "1")
# Tidings and the peer are measured one after the other, on a machine whose speed
# drifts by a fifth within a minute (seen on the shared VMs these run on): each is
# measured this many times, alternately, and the fastest round of each counts.
ROUNDS = 3
_WORDS = ("fix", "retry", "cache", "parser", "docs", "tests", "bump", "deps", "config", "flaky")


def inbound(ctx: Context) -> Result:
    binary, version = webhook_binary()
    tidings_rounds: list[dict[str, Any]] = []
    peer_rounds: list[dict[str, Any]] = []
    for _ in range(ROUNDS):
        tidings_rounds.append(_tidings(ctx, SCALED))
        peer_rounds.append(_peer(ctx, binary, False) if binary else {"unavailable": version})
    tidings, peer = _fastest(tidings_rounds), _fastest(peer_rounds)
    split = _tidings(ctx, SPLIT)
    serve = _tidings(ctx, ONE_PROCESS)
    peer_hmac = _peer(ctx, binary, True) if binary else peer
    metrics = {
        "inbound_accept_rps": tidings["loadgen"]["accepted_per_s"],
        "inbound_actions_rps": tidings["actions"]["rate_per_s"],
        "inbound_split_accept_rps": split["loadgen"]["accepted_per_s"],
        "inbound_serve_accept_rps": serve["loadgen"]["accepted_per_s"],
        "webhook_peer_rps": peer.get("loadgen", {}).get("accepted_per_s"),
        "webhook_peer_hmac_rps": peer_hmac.get("loadgen", {}).get("accepted_per_s"),
    }
    details = {
        "requests": ctx.settings.inbound_n,
        "concurrency": ctx.settings.ingest_concurrency,
        "peer_version": version if binary else None,
        "rounds": {
            "tidings": [_rate(found) for found in tidings_rounds],
            "peer": [_rate(found) for found in peer_rounds],
        },
        "tidings": tidings,
        "tidings_split": split,
        "tidings_serve": serve,
        "peer": peer,
        "peer_hmac": peer_hmac,
    }
    return Result(metrics, details)


def _rate(found: dict[str, Any]) -> float | None:
    rate: float | None = found.get("loadgen", {}).get("accepted_per_s")
    return rate


def _fastest(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the most requests accepted per second (the first if none ran)."""
    return max(rounds, key=lambda found: _rate(found) or 0.0)


def _tidings(ctx: Context, deployment: Deployment) -> dict[str, Any]:
    """Tidings on SQLite deployed as `deployment`."""
    folder = ctx.scratch("inbound-" + deployment.name)
    (folder / "tidings.toml").write_text(CONFIG)
    tidings = Tidings.on_sqlite(
        folder, config=str(folder / "tidings.toml"), api_processes=deployment.api_processes
    )
    processes = [tidings.start(ctx.procs, command) for command in deployment.commands]
    url = _ingest_url(tidings)
    found: dict[str, Any] = {
        "commands": list(deployment.commands),
        "api_processes": int(deployment.api_processes),
        "bad_signature_status": bad_signature_status(url),
    }
    before = [process.cpu_s() for process in processes]
    found["loadgen"] = _load(ctx, folder, url, processes[0], "inbound-" + deployment.name)
    found["cpu_us_per_request"] = _cpu_per_request(found["loadgen"], processes, before)
    # The queued runs get as long again as the load took (at most `stall_s`) to finish.
    wait_s = min(found["loadgen"]["elapsed_s"], ctx.settings.stall_s)
    found["actions"] = _actions(tidings.sqlite_path, wait_s, processes[-1])
    found["peak_rss_mb"] = sum(process.peak_rss_mb() for process in processes)
    for process in processes:
        ctx.procs.stop(process)
    return found


def _cpu_per_request(
    load: dict[str, Any], processes: list[Process], before: list[float | None]
) -> dict[str, float | None]:
    """CPU microseconds per accepted request spent by each process during the load
    (the programs a command action or the peer runs are children, so included), and by
    the load generator: on two shared cores this shows what each side costs."""
    accepted = load["accepted"] or 1
    spent: dict[str, float | None] = {"loadgen": round(load["loadgen_cpu_s"] / accepted * 1e6)}
    for process, start in zip(processes, before, strict=True):
        end = process.cpu_s()
        used = None if start is None or end is None else end - start
        spent[process.name] = None if used is None else round(used / accepted * 1e6)
    return spent


def _ingest_url(tidings: Tidings) -> str:
    response = requests.get(
        f"{tidings.api_url}/ingest/api/v1/source/{SOURCE_UID}",
        headers={"Authorization": f"Bearer {tidings.token}"},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["ingestUrl"])


def _actions(database: Path, wait_s: float, serve: Process) -> dict[str, Any]:
    """Wait up to `wait_s` for the queued `/bin/true` runs to finish; their rate is
    counted from the first successful run to the last, whether or not all ran."""
    ok, pending = DeliveryStatus.SUCCESS, (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    started = time.monotonic()
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        done_at_load_end = db.execute(SUCCEEDED, (ok,)).fetchone()[0]
        left = db.execute(WAITING, pending).fetchone()[0]
        while left and time.monotonic() - started < wait_s:
            serve.check_running()
            time.sleep(0.2)
            left = db.execute(WAITING, pending).fetchone()[0]
        count, first, last = db.execute(SUCCEEDED, (ok,)).fetchone()
        others = db.execute("SELECT count(*) FROM attempt WHERE status != ?", (ok,)).fetchone()
    return {
        "succeeded": count,
        "done_when_load_ended": done_at_load_end,
        "failed_attempts": others[0],
        "left": left,
        "waited_s": round(time.monotonic() - started, 1),
        "rate_per_s": rate(count, first and first / 1000, last and last / 1000),
    }


def webhook_binary() -> tuple[str | None, str]:
    """The peer's path and version, installing the Debian package if it is missing;
    or None and why it is unavailable."""
    if not os.access(PEER, os.X_OK):
        command = ["apt-get", "install", "-y", PEER_PACKAGE]
        print(f"    {PEER} is missing: {' '.join(command)}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=600, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{' '.join(command)}: {exc}"
        if done.returncode != 0 or not os.access(PEER, os.X_OK):
            tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
            return None, f"{' '.join(command)} exited with {done.returncode}: {tail}"
    shown = subprocess.run([PEER, "-version"], capture_output=True, text=True, timeout=10)
    return PEER, shown.stdout.strip()


def _peer(ctx: Context, binary: str, check_hmac: bool) -> dict[str, Any]:
    folder = ctx.scratch("webhook-hmac" if check_hmac else "webhook")
    hook: dict[str, Any] = {"id": "bench", "execute-command": "/bin/true"}
    if check_hmac:
        signature = {"source": "header", "name": "X-Hub-Signature-256"}
        rule = {"type": "payload-hmac-sha256", "secret": SECRET, "parameter": signature}
        hook["trigger-rule"] = {"match": rule}
    (folder / "hooks.json").write_bytes(orjson.dumps([hook]))
    port = free_port()
    argv = [binary, "-hooks", str(folder / "hooks.json"), "-ip", "127.0.0.1", "-port", str(port)]
    peer = ctx.procs.start(Process("webhook peer", argv, folder / "webhook.log"))
    wait_until_http(f"http://127.0.0.1:{port}/", peer)
    url = f"http://127.0.0.1:{port}/hooks/bench"
    found: dict[str, Any] = {
        "hmac_rule": check_hmac,
        "bad_signature_status": bad_signature_status(url),
    }
    before = [peer.cpu_s()]
    found["loadgen"] = _load(ctx, folder, url)
    found["cpu_us_per_request"] = _cpu_per_request(found["loadgen"], [peer], before)
    found["peak_rss_mb"] = peer.peak_rss_mb()
    ctx.procs.stop(peer)
    return found


def bad_signature_status(url: str) -> int:
    """What `url` answers to a wrongly signed event: shows whether it verifies at all."""
    headers = {**github_headers(b"{}", 0, b"not the secret"), "Content-Type": "application/json"}
    return requests.post(url, data=b"{}", headers=headers, timeout=10).status_code


def _load(
    ctx: Context, folder: Path, url: str, target: Process | None = None, profile: str | None = None
) -> dict[str, Any]:
    """Run the load generator (this module) against `url`; return its JSON summary."""
    n, out = ctx.settings.inbound_n, folder / f"loadgen-{time.monotonic_ns()}.json"
    argv = python_module(
        "benchmarks.inbound",
        "--url",
        url,
        "--n",
        str(n),
        "--out",
        str(out),
        "--concurrency",
        str(ctx.settings.ingest_concurrency),
    )
    sender = ctx.procs.start(Process("loadgen inbound", argv, folder / "loadgen.log"))
    with profiled(ctx, target, profile):
        code = sender.wait(ctx.settings.timeout_for(n))
    if code != 0:
        raise ProcessFailed(f"inbound load generator failed ({code}):\n{sender.tail()}")
    summary: dict[str, Any] = orjson.loads(out.read_bytes())
    return summary


# The load generator process.


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _person(rng: random.Random) -> dict[str, Any]:
    login = f"dev{rng.randint(1, 9999)}"
    return {"name": login.title(), "email": f"{login}@example.com", "username": login}


def push_event(rng: random.Random) -> dict[str, Any]:
    """A GitHub `push` event of 1-2 KB, shaped like the real one (abridged)."""
    owner, name = f"org{rng.randint(1, 999)}", rng.choice(("api", "web", "infra", "billing"))
    full_name, before = f"{owner}/{name}", _sha(rng)
    commits = [
        {
            "id": (sha := _sha(rng)),
            "message": " ".join(rng.choices(_WORDS, k=rng.randint(3, 9))),
            "timestamp": f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00Z",
            "url": f"https://github.com/{full_name}/commit/{sha}",
            "author": _person(rng),
            "modified": [f"src/{rng.choice(_WORDS)}.py" for _ in range(rng.randint(1, 3))],
        }
        for _ in range(rng.randint(1, 3))
    ]
    return {
        "ref": f"refs/heads/{rng.choice(('main', 'develop', 'release'))}",
        "before": before,
        "after": commits[-1]["id"],
        "repository": {
            "id": rng.randint(10**7, 10**9),
            "name": name,
            "full_name": full_name,
            "private": rng.random() < 0.5,
            "owner": {"login": owner, "id": rng.randint(10**5, 10**8), "type": "Organization"},
            "html_url": f"https://github.com/{full_name}",
            "default_branch": "main",
        },
        "pusher": {"name": commits[-1]["author"]["username"], "email": "noreply@github.com"},
        "created": False,
        "deleted": False,
        "forced": False,
        "compare": f"https://github.com/{full_name}/compare/{before[:12]}...{commits[-1]['id'][:12]}",
        "commits": commits,
        "head_commit": commits[-1],
    }


@functools.cache
def bodies(seed: int = 1) -> tuple[bytes, ...]:
    rng = random.Random(seed)
    return tuple(orjson.dumps(push_event(rng)) for _ in range(VARIANTS))


def github_headers(body: bytes, seq: int, secret: bytes = SECRET.encode()) -> dict[str, str]:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(seq % 7 + 1),
        "X-Hub-Signature-256": f"sha256={digest}",
    }


class GitHubSender(loadgen.Sender):
    """Signed `push` events to one URL, a new delivery id and a distinct body each (as
    real pushes are: Tidings takes the same GitHub body twice for a replay); a 200
    counts as accepted."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session, self._url, self.totals = session, url, loadgen.Totals()

    async def send(self, seq: int) -> None:
        started = time.perf_counter()
        variant = bodies()[seq % VARIANTS]
        body = b'%s,"bench_seq":%d}' % (variant[:-1], seq)
        try:
            headers = github_headers(body, seq)
            async with self._session.post(self._url, data=body, headers=headers) as reply:
                await reply.read()
                status = str(reply.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        self.totals.response_ms.append((time.perf_counter() - started) * 1000)
        self.totals.statuses[status] += 1
        self.totals.accepted += status == "200"


async def send_all(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/bench"}
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout
    ) as session:
        sender = GitHubSender(session, args.url)
        started = time.time()
        await loadgen.closed_loop(sender, args.n, args.concurrency)
        finished = time.time()
    sizes = [len(body) for body in bodies()]
    body_bytes = {"min": min(sizes), "mean": sum(sizes) // len(sizes), "max": max(sizes)}
    return {**loadgen.summary(sender.totals, started, finished), "body_bytes": body_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description="POST signed GitHub push events to --url.")
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = uvloop.run(send_all(args))
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
