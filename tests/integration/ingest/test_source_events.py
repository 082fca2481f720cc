"""GET /ingest/api/v1/source/{id}/event: a source's kept events with their exact bytes,
paged oldest first, from `latest`, and long-polled with `wait`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.harness import ServerProcess
from tests.waiting import eventually, read_by_peer
from tidings.storage import pagination

GITHUB_SECRET = "gh-secret"


def auth(server: ServerProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def new_source(server: ServerProcess, uid: str | None = None, **fields: Any) -> dict[str, Any]:
    wanted = {"name": uid or "generic", "uid": uid, "type": "generic-webhook", "config": {}}
    response = httpx.post(
        f"{server.url}/ingest/api/v1/source", json={**wanted, **fields}, headers=auth(server)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def send(url: str, body: bytes, headers: dict[str, str] | None = None) -> str:
    """POST an event to an ingest URL; return its message id."""
    answer = httpx.post(url, content=body, headers=headers or {}, timeout=10)
    assert answer.status_code == 200, answer.text
    msg_id: str = answer.json()["id"]
    return msg_id


def events(server: ServerProcess, source: str, timeout: float = 10, **params: Any) -> Any:
    response = events_response(server, source, timeout, **params)
    assert response.status_code == 200, response.text
    return response.json()


def events_response(
    server: ServerProcess, source: str, timeout: float = 10, **params: Any
) -> httpx.Response:
    url = f"{server.url}/ingest/api/v1/source/{source}/event"
    return httpx.get(url, params=params, headers=auth(server), timeout=timeout)


def ids(page: Any) -> list[str]:
    return [item["id"] for item in page["data"]]


def test_events_page_oldest_first_with_exact_bytes_headers_and_query(
    server: ServerProcess,
) -> None:
    source = new_source(server, uid="dev")
    url = source["ingestUrl"]
    json_id = send(url, b'{ "n": 1 }', {"Content-Type": "application/json", "webhook-id": "e1"})
    form_id = send(
        url + "?x=1&y=%20two",
        b"a=1&b=%FF",
        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer s3cret"},
    )
    raw_id = send(url, b"\x00\xff\xfe raw", {"Content-Type": "application/octet-stream"})

    first = events(server, "dev", limit=2)  # by uid
    assert ids(first) == [json_id, form_id] and first["done"] is False
    second = events(server, source["id"], limit=2, iterator=first["iterator"])
    assert ids(second) == [raw_id] and second["done"] is True
    rest = events(server, "dev", iterator=second["iterator"])
    assert rest["data"] == [] and rest["iterator"] == second["iterator"] and rest["done"] is True

    json_event, form_event, raw_event = first["data"] + second["data"]
    assert [base64.b64decode(e["body"]) for e in (json_event, form_event, raw_event)] == [
        b'{ "n": 1 }',
        b"a=1&b=%FF",
        b"\x00\xff\xfe raw",
    ]
    assert (json_event["deliveryId"], form_event["deliveryId"]) == ("e1", None)
    assert json_event["headers"]["content-type"] == "application/json"
    assert form_event["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in form_event["headers"]  # credentials are never kept
    assert (json_event["query"], form_event["query"]) == ("", "x=1&y=%20two")
    received = datetime.fromisoformat(json_event["receivedAt"])
    assert abs(received - datetime.now(UTC)) < timedelta(minutes=1)


def test_latest_starts_after_the_newest_event(server: ServerProcess) -> None:
    source = new_source(server)
    empty_start = events(server, source["id"], iterator="latest")
    assert empty_start["data"] == [] and empty_start["iterator"]
    first = send(source["ingestUrl"], b"first")
    assert ids(events(server, source["id"], iterator=empty_start["iterator"])) == [first]

    latest = events(server, source["id"], iterator="latest")
    assert latest["data"] == [] and latest["done"] is True
    assert events(server, source["id"], iterator=latest["iterator"])["data"] == []
    second = send(source["ingestUrl"], b"second")
    assert ids(events(server, source["id"], iterator=latest["iterator"])) == [second]
    assert ids(events(server, source["id"])) == [first, second]  # no iterator: the start


def test_wait_returns_as_soon_as_an_event_arrives(server: ServerProcess) -> None:
    source = new_source(server)
    start = events(server, source["id"], iterator="latest")["iterator"]
    answers: list[Any] = []
    poll = threading.Thread(
        target=lambda: answers.append(
            events(server, source["id"], timeout=60, iterator=start, wait=30)
        )
    )
    poll.start()
    msg_id = send(source["ingestUrl"], b"awaited")
    poll.join(timeout=20)  # well before the 30 s wait is over
    assert not poll.is_alive(), "the long poll did not return when the event arrived"
    assert ids(answers[0]) == [msg_id]


def test_wait_with_nothing_new_answers_empty_after_the_wait(server: ServerProcess) -> None:
    source = new_source(server)
    started = time.monotonic()
    page = events(server, source["id"], wait=0.5)
    assert page["data"] == [] and page["done"] is True and page["iterator"]
    assert time.monotonic() - started >= 0.4


def test_refused_requests_and_other_sources_events_are_not_listed(server: ServerProcess) -> None:
    github = new_source(server, type="github", config={"secret": GITHUB_SECRET})
    other = new_source(server)
    body = b'{"action": "opened"}'
    forged = "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()
    refused = httpx.post(
        github["ingestUrl"],
        content=body,
        headers={"X-Hub-Signature-256": forged, "X-GitHub-Event": "push"},
    )
    assert refused.status_code == 401
    other_id = send(other["ingestUrl"], body)
    assert events(server, github["id"])["data"] == []
    assert ids(events(server, other["id"])) == [other_id]


def test_bad_parameters_are_refused_naming_them(server: ServerProcess) -> None:
    source = new_source(server)
    backward = pagination.encode(1, forward=False)
    cases = [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "many"),
        ("wait", "-1"),
        ("wait", "31"),
        ("wait", "soon"),
        ("iterator", "itr_%%%"),
        ("iterator", "not-an-iterator"),
        ("iterator", backward),
    ]
    for name, value in cases:
        response = events_response(server, source["id"], **{name: value})
        assert response.status_code == 422, (name, value, response.text)
        [problem] = response.json()["detail"]
        assert problem["loc"][-1] == name, (name, value, problem)


def test_unknown_source_is_404_and_a_token_is_required(server: ServerProcess) -> None:
    source = new_source(server)
    for missing in ("src_2nothinghere000000000", "no-such-uid"):
        response = events_response(server, missing)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    path = f"{server.url}/ingest/api/v1/source/{source['id']}/event"
    assert httpx.get(path).status_code == 401
    bad = httpx.get(path, headers={"Authorization": f"Bearer {server.token}x"})
    assert bad.status_code == 401


def test_a_stopping_server_answers_long_polls_at_once(tmp_path: Path) -> None:
    """A listener's long poll must not hold the server's exit for its grace period:
    it gets its (empty) answer, where it would otherwise be cut off unanswered."""
    server = ServerProcess(tmp_path).start()
    try:
        source = new_source(server)
        start = events(server, source["id"], iterator="latest")["iterator"]
        path = f"/ingest/api/v1/source/{source['id']}/event?iterator={start}&limit=60&wait=30"
        poll = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        poll.sendall(
            f"GET {path} HTTP/1.1\r\nHost: tidings\r\nAuthorization: Bearer {server.token}"
            "\r\nConnection: close\r\n\r\n".encode()
        )
        # The poll is waiting on the server once the server has read the whole request.
        assert eventually(lambda: read_by_peer(poll), bool, timeout=10)
    finally:
        assert server.stop() == 0
    with poll:
        answer = http.client.HTTPResponse(poll)
        answer.begin()
        body = answer.read()
    assert answer.status == 200, body
    assert orjson.loads(body)["data"] == []
