"""The baseline a Python team would usually build: Celery 5 + Redis + requests.

Prefork pool of 8 processes, `acks_late=True`, one `requests.Session` per process,
the same Standard Webhooks signing (`tidings.signing.standard`) and headers as
Tidings. A task carries the endpoint URL, the message id and the payload.

Worker: `celery -A benchmarks.celery_sender worker -Q tidings-bench -c 8 --pool prefork`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import requests
from celery import Celery
from celery.signals import worker_process_init

from benchmarks import payloads
from tidings.signing.standard import sign_with_key

BROKER_URL = "redis://127.0.0.1:6379/15"
QUEUE = "tidings-bench"
CONCURRENCY = 8

app = Celery("tidings_bench", broker=BROKER_URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_session: requests.Session | None = None


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _new_session(**_: object) -> None:
    """One connection-pooling session per pool process (sessions are not fork-safe)."""
    global _session
    _session = requests.Session()


def _endpoint_index(url: str) -> int:
    return int(url.rsplit("/", 1)[1])


@app.task(
    name="bench.deliver",
    acks_late=True,
    autoretry_for=(requests.RequestException,),
    retry_backoff=5,
    max_retries=8,
)  # type: ignore[untyped-decorator]
def deliver(url: str, msg_id: str, payload: str) -> None:
    body = payload.encode()
    timestamp = int(time.time())
    key = payloads.endpoint_key(_endpoint_index(url))
    signature = sign_with_key(key, msg_id, timestamp, body)
    headers = {
        "content-type": "application/json",
        "user-agent": "tidings-bench-celery",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "svix-id": msg_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": signature,
    }
    assert _session is not None
    response = _session.post(url, data=body, headers=headers, timeout=15)
    response.raise_for_status()


def enqueue(port: int, seqs: Iterable[int]) -> int:
    """Queue one task per message, over one broker connection; return how many."""
    count = 0
    with app.producer_or_acquire() as producer:
        for seq in seqs:
            url = payloads.endpoint_url(seq % payloads.ENDPOINTS, port)
            body = payloads.payload(seq).decode()
            deliver.apply_async((url, f"msg_celery{seq:016d}", body), producer=producer)
            count += 1
    return count


def purge() -> None:
    app.control.purge()


def worker_argv() -> list[str]:
    return [
        "-m",
        "celery",
        "-A",
        "benchmarks.celery_sender",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(CONCURRENCY),
        "-Q",
        QUEUE,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
        "-n",
        "bench@%h",
    ]
