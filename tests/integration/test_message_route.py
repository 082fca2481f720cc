"""Sending a message takes a lean path (api/message_route.py) that keeps applications
and tokens in memory: it must answer exactly as the FastAPI route does, and follow
applications renamed or deleted since it last saw them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness import ServerProcess
from tidings.api.base import timestamp
from tidings.api.message_creation import message_json
from tidings.api.messages import MessageOut
from tidings.domain.models import Message
from tidings.storage.ports import CreatedMessage

PAYLOAD = {"amount": 19.99, "tiny": 1e-7, "big": 1e300, "name": "Zoë ✓", "items": [{"n": 1}]}


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        yield client


def make_app(http: httpx.Client, uid: str) -> str:
    response = http.post("/api/v1/app", json={"name": "Route", "uid": uid})
    assert response.status_code == 201
    return str(response.json()["id"])


def post(http: httpx.Client, app: str, **query: str) -> httpx.Response:
    body = {
        "eventType": "a.b",
        "payload": PAYLOAD,
        "eventId": None,
        "channels": ["c2", "c1"],
        "tags": ["t"],
    }
    return http.post(f"/api/v1/app/{app}/msg", json=body, params=query)


def test_the_answer_is_the_message_as_read_back(http: httpx.Client) -> None:
    app = make_app(http, "route-shape")
    sent = post(http, app)
    assert sent.status_code == 202
    assert sent.headers["content-type"] == "application/json"
    shown = sent.json()
    assert shown == http.get(f"/api/v1/app/{app}/msg/{shown['id']}").json()
    assert list(shown) == ["id", "eventType", "eventId", "payload", "channels", "tags", "timestamp"]
    assert shown["payload"] == PAYLOAD and shown["channels"] == ["c1", "c2"]
    assert post(http, app, with_content="false").json()["payload"] == {}


def test_a_renamed_application_is_followed(http: httpx.Client) -> None:
    app = make_app(http, "before")
    assert post(http, "before").status_code == 202  # now known by this uid
    assert http.patch(f"/api/v1/app/{app}", json={"uid": "after"}).status_code == 200
    assert post(http, "before").status_code == 404
    assert post(http, "after").status_code == 202
    assert post(http, app).status_code == 202


def test_a_deleted_application_is_not_found(http: httpx.Client) -> None:
    app = make_app(http, "doomed")
    assert post(http, "doomed").status_code == 202
    assert http.delete(f"/api/v1/app/{app}").status_code == 204
    gone = post(http, "doomed")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


def test_a_repeated_idempotency_key_returns_the_first_message(http: httpx.Client) -> None:
    app = make_app(http, "route-idem")
    body: dict[str, Any] = {"eventType": "a", "payload": PAYLOAD}
    first = http.post(f"/api/v1/app/{app}/msg", json=body, headers={"idempotency-key": "k"})
    again = http.post(f"/api/v1/app/{app}/msg", json=body, headers={"idempotency-key": "k"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()


def test_message_json_is_what_the_response_model_gives() -> None:
    message = Message(
        id="msg_x",
        app_key=1,
        event_type="a",
        event_id="e",
        payload=b'{"a":[1]}',
        channels=["c"],
        tags=None,
        created_at=1_700_000_000_123,
    )
    when = timestamp(1_700_000_000_123)
    model = MessageOut(
        id="msg_x",
        event_type="a",
        event_id="e",
        payload={"a": [1]},
        channels=["c"],
        tags=None,
        timestamp=when,
    )
    expected = model.model_dump_json(by_alias=True).encode()
    for created in (True, False):
        assert message_json(CreatedMessage(message, created, 1), True) == expected
