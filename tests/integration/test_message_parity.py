"""Both routes that create a message answer alike, request for request: the lean ASGI
path (api/fast/messages.py) and FastAPI's route (api/messages.py), which it hands
anything unusual. Each is sent the same requests over a store of its own, and the
answers must match in status, headers that matter and body (ids aside, which are
compared by where they first appeared)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.keys import TEST_KEYS
from tidings.api.app import create_app
from tidings.config import Settings
from tidings.storage import open_store

TOKEN = "parity_" + "t" * 32
AUTH = {"authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
BIG = 10**30  # beyond 64 bits: sent exactly, never as a float

# (what the request is about, path under /api/v1/app, headers, body)
REQUESTS: list[tuple[str, str, dict[str, str], bytes]] = [
    ("a message", "acme/msg", AUTH, b'{"eventType":"a.b","payload":{"n":1}}'),
    ("by the app id", "{app}/msg", AUTH, b'{"eventType":"a.b","payload":{}}'),
    (
        "without content",
        "acme/msg?with_content=false",
        AUTH,
        b'{"eventType":"a.b","payload":{"n":2}}',
    ),
    (
        "channels and tags",
        "acme/msg",
        AUTH,
        b'{"eventType":"a.b","payload":{},"channels":["z","a","z"],"tags":["t"]}',
    ),
    (
        "a key",
        "acme/msg",
        {**AUTH, "idempotency-key": "k1"},
        b'{"eventType":"a.b","payload":{"k":1}}',
    ),
    (
        "the key again",
        "acme/msg",
        {**AUTH, "idempotency-key": "k1"},
        b'{"eventType":"a.b","payload":{"k":1}}',
    ),
    (
        "the key, another body",
        "acme/msg",
        {**AUTH, "idempotency-key": "k1"},
        b'{"eventType":"a.b","payload":{"k":2}}',
    ),
    (
        "a key too long",
        "acme/msg",
        {**AUTH, "idempotency-key": "k" * 257},
        b'{"eventType":"a.b","payload":{}}',
    ),
    ("an eventId", "acme/msg", AUTH, b'{"eventType":"a.b","payload":{},"eventId":"e1"}'),
    ("the eventId again", "acme/msg", AUTH, b'{"eventType":"a.b","payload":{},"eventId":"e1"}'),
    (
        "a big integer",
        "acme/msg",
        AUTH,
        b'{"eventType":"a.b","payload":{"big":' + str(BIG).encode() + b"}}",
    ),
    (
        "a payload too large",
        "acme/msg",
        AUTH,
        b'{"eventType":"a.b","payload":{"x":"' + b"x" * 5000 + b'"}}',
    ),
    ("no event type", "acme/msg", AUTH, b'{"payload":{}}'),
    ("a bad event type", "acme/msg", AUTH, b'{"eventType":"a b","payload":{}}'),
    ("a bad channel", "acme/msg", AUTH, b'{"eventType":"a","payload":{},"channels":["a b"]}'),
    ("not JSON", "acme/msg", AUTH, b'{"eventType":'),
    ("a payload that is no object", "acme/msg", AUTH, b'{"eventType":"a","payload":[1]}'),
    ("an unknown application", "nobody/msg", AUTH, b'{"eventType":"a","payload":{}}'),
    (
        "an application made on the way",
        "fresh/msg",
        AUTH,
        b'{"eventType":"a","payload":{},"application":{"name":"Fresh"}}',
    ),
    (
        "a reserved uid",
        "__tidings_x/msg",
        AUTH,
        b'{"eventType":"a","payload":{},"application":{"name":"X"}}',
    ),
    ("no token", "acme/msg", {}, b'{"eventType":"a","payload":{}}'),
    (
        "a wrong token",
        "acme/msg",
        {"authorization": "Bearer nope"},
        b'{"eventType":"a","payload":{}}',
    ),
]


def _shape(value: Any, seen: dict[str, str]) -> Any:
    """`value` with each id and timestamp replaced by where it first appeared."""
    if isinstance(value, dict):
        return {
            key: seen.setdefault(item, f"<{len(seen)}>")
            if key in ("id", "timestamp") and isinstance(item, str)
            else _shape(item, seen)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_shape(item, seen) for item in value]
    return value


async def _answers(folder: Path, lean: bool) -> list[tuple[str, int, str | None, Any]]:
    settings = Settings(
        database_url=f"sqlite:///{folder / 'tidings.db'}",
        admin_token=TOKEN,
        max_payload_bytes=4096,
    )
    store = open_store(settings.database_url, keys=TEST_KEYS)
    await store.open()
    api = create_app(store, settings)
    target: Any = api if lean else api.framework
    transport = httpx.ASGITransport(app=target)
    seen: dict[str, str] = {}
    answers = []
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tidings") as http:
            made = await http.post(
                "/api/v1/app", json={"name": "Acme", "uid": "acme"}, headers=AUTH
            )
            app_id = made.json()["id"]
            await http.post(
                f"/api/v1/app/{app_id}/endpoint",
                headers=AUTH,
                json={"url": "https://example.com/hook"},
            )
            for about, path, headers, body in REQUESTS:
                url = "/api/v1/app/" + path.replace("{app}", app_id)
                answer = await http.post(url, content=body, headers={**JSON, **headers})
                shown = _shape(json.loads(answer.content), seen) if answer.content else None
                answers.append(
                    (about, answer.status_code, answer.headers.get("content-type"), shown)
                )
    finally:
        await store.close()
    return answers


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any]]:
    lean = asyncio.run(_answers(tmp_path_factory.mktemp("lean"), lean=True))
    framework = asyncio.run(_answers(tmp_path_factory.mktemp("framework"), lean=False))
    return lean, framework


@pytest.mark.parametrize("index", range(len(REQUESTS)), ids=[r[0] for r in REQUESTS])
def test_the_lean_path_answers_as_the_framework_route(
    both: tuple[list[Any], list[Any]], index: int
) -> None:
    lean, framework = both
    assert lean[index] == framework[index]


def test_the_requests_cover_every_kind_of_answer(both: tuple[list[Any], list[Any]]) -> None:
    """The parity above means something only if the requests reach each answer."""
    statuses = {status for _, status, _, _ in both[0]}
    assert statuses >= {202, 401, 404, 409, 413, 422}
    big = next(shown for about, _, _, shown in both[0] if about == "a big integer")
    assert big["payload"] == {"big": BIG}
