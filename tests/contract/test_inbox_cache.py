"""Sources kept in memory by receiving processes never outlive a change made elsewhere.

Two `Inbox`es over one database stand for two API processes: one keeps the source
in memory, the other's operator changes it. Runs on every backend."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

import orjson
import pytest

from tests.contract.test_sources import make_source
from tests.contract.test_store import Run
from tests.waiting import eventually
from tidings.domain.clock import now_ms
from tidings.domain.errors import NotFound
from tidings.domain.models import Source
from tidings.ingest.receive import Answer, Inbox
from tidings.ingest.verify import InboundRequest
from tidings.storage import Store

BODY = b'{"zen": "Keep it logically awesome."}'


def post(run: Run, inbox: Inbox, source: Source, secret: str, token: str | None = None) -> Answer:
    token = token or source.token
    # A distinct body each time: GitHub signs no time, so the same body is a repeat.
    body = BODY[:-1] + b', "n": "%s"}' % uuid.uuid4().hex.encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": str(uuid.uuid4()),
    }
    known = run(inbox.find(token))
    assert known is not None
    url = f"https://hooks.example/ingest/in/{token}"
    request = InboundRequest("POST", url, headers, body, time.time())
    answer: Answer = run(inbox.accept(token, known, request))
    return answer


def kept(run: Run, store: Store, source: Source) -> int:
    return len(run(store.list_inbound(source, 0, 100)))


def test_a_changed_secret_applies_at_once_in_a_process_that_kept_the_old(
    run: Run, store: Store
) -> None:
    source = make_source(run, store)
    source.config = {"secrets": ["old"]}
    run(store.update_source(source))
    receiving, operator = Inbox(store), Inbox(store)
    assert post(run, receiving, source, "old").status == 200  # now kept in memory
    assert run(receiving.find(source.token)).kept

    changed = run(store.get_source(source.id))
    changed.config = {"secrets": ["new"]}
    run(store.update_source(changed))

    refused = post(run, receiving, source, "old")
    assert (refused.status, orjson.loads(refused.body)["code"]) == (401, "verification_failed")
    assert post(run, receiving, source, "new").status == 200
    assert kept(run, store, source) == 2
    assert post(run, operator, source, "new").status == 200


def test_a_deleted_source_stops_receiving_at_once(run: Run, store: Store) -> None:
    source = make_source(run, store)
    inbox = Inbox(store)
    assert post(run, inbox, source, "s3cret").status == 200
    run(store.delete_source(source))
    with pytest.raises(NotFound):  # the route answers 404
        post(run, inbox, source, "s3cret")


def test_a_rotated_out_token_stops_at_its_expiry_even_when_kept(run: Run, store: Store) -> None:
    source = make_source(run, store)
    old = source.token
    source.token, source.previous_token = "tok_new", old
    source.previous_token_expires_at = now_ms() + 300
    run(store.update_source(source))
    inbox = Inbox(store)
    assert post(run, inbox, source, "s3cret", token=old).status == 200  # kept in memory
    # Kept in memory, yet refused once its expiry has passed (the wait is on that).
    assert eventually(lambda: run(inbox.find(old)), lambda found: found is None, timeout=5) is None
    assert post(run, inbox, source, "s3cret").status == 200
