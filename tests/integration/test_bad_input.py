"""Bad input gets a 4xx that names the problem: never a 500, never a hang."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from tests.harness import ServerProcess


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def app_id(http: httpx.Client) -> str:
    response = http.post("/api/v1/app", json={"name": "Input checks"})
    assert response.status_code == 201
    return str(response.json()["id"])


def _problem(response: httpx.Response) -> str:
    """The human-readable text of an error body, in either of Svix's shapes."""
    detail = response.json()["detail"]
    if isinstance(detail, list):
        return " | ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in detail)
    return str(detail)


def test_unknown_application_is_404_with_code(http: httpx.Client) -> None:
    response = http.post("/api/v1/app/app_nope/msg", json={"eventType": "a", "payload": {}})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "app_nope" in response.json()["detail"]


def test_malformed_json_is_422(http: httpx.Client, app_id: str) -> None:
    response = http.post(
        f"/api/v1/app/{app_id}/msg",
        content=b'{"eventType": "a", "payload": {',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "json" in _problem(response).lower()


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"payload": {}}, "eventType"),
        ({"eventType": "a"}, "payload"),
        ({"eventType": "a", "payload": [1, 2]}, "payload"),
        ({"eventType": "has space", "payload": {}}, "eventType"),
        ({"eventType": "a", "payload": {}, "colour": "red"}, "colour"),
        ({"eventType": "a", "payload": {}, "channels": []}, "channels"),
    ],
)
def test_invalid_message_fields_are_422_naming_the_field(
    http: httpx.Client, app_id: str, body: dict[str, Any], names: str
) -> None:
    response = http.post(f"/api/v1/app/{app_id}/msg", json=body)
    assert response.status_code == 422
    assert names in _problem(response)


def test_payload_over_one_mebibyte_is_413(http: httpx.Client, app_id: str) -> None:
    big = {"blob": "x" * (1024 * 1024)}
    response = http.post(f"/api/v1/app/{app_id}/msg", json={"eventType": "a", "payload": big})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_request_body_far_over_the_limit_is_refused_before_parsing(
    http: httpx.Client, app_id: str
) -> None:
    response = http.post(
        f"/api/v1/app/{app_id}/msg",
        content=b"{" + b" " * (8 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://example.com/hook", "http://", "http://exa mple.com/", "https:///x"]
)
def test_invalid_endpoint_url_is_422(http: httpx.Client, app_id: str, url: str) -> None:
    response = http.post(f"/api/v1/app/{app_id}/endpoint", json={"url": url})
    assert response.status_code == 422
    assert "url" in _problem(response)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"url": "https://example.com", "secret": "not-base64!"}, "secret"),
        ({"url": "https://example.com", "headers": {"webhook-id": "x"}}, "webhook-id"),
        ({"url": "https://example.com", "headers": {"bad name": "x"}}, "bad name"),
        ({"url": "https://example.com", "channels": ["c"] * 11}, "channels"),
    ],
)
def test_invalid_endpoint_fields_are_422(
    http: httpx.Client, app_id: str, body: dict[str, Any], names: str
) -> None:
    response = http.post(f"/api/v1/app/{app_id}/endpoint", json=body)
    assert response.status_code == 422
    assert names in _problem(response)


def test_missing_or_wrong_token_is_401(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        assert anonymous.get("/api/v1/app").status_code == 401
        wrong = anonymous.get("/api/v1/app", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        assert wrong.json()["code"] == "authentication_failed"
        assert anonymous.get("/api/v1/health").status_code == 204


@pytest.mark.parametrize(
    "query", ["iterator=garbage", "limit=0", "limit=100000", "order=sideways", "limit=abc"]
)
def test_bad_list_parameters_are_422(http: httpx.Client, query: str) -> None:
    response = http.get(f"/api/v1/app?{query}")
    assert response.status_code == 422
    assert _problem(response)


def test_reused_idempotency_key_with_other_body_is_422(http: httpx.Client, app_id: str) -> None:
    url = f"/api/v1/app/{app_id}/msg"
    key = {"idempotency-key": "k-1"}
    assert http.post(url, json={"eventType": "a", "payload": {}}, headers=key).status_code == 202
    response = http.post(url, json={"eventType": "b", "payload": {}}, headers=key)
    assert response.status_code == 422
    assert "idempotency-key" in _problem(response)


def test_duplicate_event_id_is_409(http: httpx.Client, app_id: str) -> None:
    url = f"/api/v1/app/{app_id}/msg"
    body = {"eventType": "a", "payload": {}, "eventId": "evt-1"}
    assert http.post(url, json=body).status_code == 202
    response = http.post(url, json=body)
    assert response.status_code == 409
    assert "evt-1" in response.json()["detail"]


def test_unknown_route_and_method_are_4xx(http: httpx.Client) -> None:
    assert http.get("/api/v1/nothing-here").status_code == 404
    assert http.delete("/api/v1/app").status_code == 405


def test_concurrent_requests_with_one_key_make_one_message(
    server: ServerProcess, http: httpx.Client, app_id: str
) -> None:
    """Requests that find the key still in flight get 409; the rest the same 202."""

    async def fire() -> list[tuple[int, dict[str, object]]]:
        headers = {"Authorization": f"Bearer {server.token}", "idempotency-key": "same"}
        body = {"eventType": "a", "payload": {"n": 1}}
        async with aiohttp.ClientSession(headers=headers) as session:

            async def one() -> tuple[int, dict[str, object]]:
                url = f"{server.url}/api/v1/app/{app_id}/msg"
                async with session.post(url, json=body) as response:
                    return response.status, await response.json()

            return await asyncio.gather(*(one() for _ in range(20)))

    answers = asyncio.run(fire())
    assert {status for status, _ in answers} <= {202, 409}, answers
    assert len({str(body["id"]) for status, body in answers if status == 202}) == 1
    assert len(http.get(f"/api/v1/app/{app_id}/msg").json()["data"]) == 1


# Found by fuzzing the spec: each once answered 500, or the wrong 4xx. -----------


def test_a_payload_nested_too_deeply_is_422_naming_it(http: httpx.Client, app_id: str) -> None:
    deep = '{"eventType": "a", "payload": ' + "[" * 3000 + "]" * 3000 + "}"
    response = http.post(
        f"/api/v1/app/{app_id}/msg", content=deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "nests too deeply" in _problem(response)


def test_integers_beyond_64_bits_go_out_exactly_or_are_refused(
    http: httpx.Client, app_id: str
) -> None:
    big = 123456789012345678901234567890
    sent = http.post(f"/api/v1/app/{app_id}/msg", json={"eventType": "a", "payload": {"n": big}})
    assert sent.status_code == 202 and sent.json()["payload"] == {"n": big}
    read = http.get(f"/api/v1/app/{app_id}/msg/{sent.json()['id']}").json()
    assert read["payload"] == {"n": big}  # not a float
    schemas = http.post(
        "/api/v1/event-type",
        json={"name": "big", "description": "d", "schemas": {"1": {"max": big}}},
    )
    assert schemas.status_code == 422 and "64 bits" in _problem(schemas)
    rate = http.patch(f"/api/v1/app/{app_id}", json={"throttleRate": big})
    assert rate.status_code == 422 and "throttleRate" in _problem(rate)


def test_null_where_a_value_is_needed_is_422(http: httpx.Client) -> None:
    assert http.post("/api/v1/event-type", json={"name": "e", "description": "d"}).is_success
    response = http.patch("/api/v1/event-type/e", json={"description": None})
    assert response.status_code == 422 and "description" in _problem(response)


def test_405_names_every_method_of_the_path(http: httpx.Client, app_id: str) -> None:
    response = http.delete("/api/v1/app")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    one = http.post(f"/api/v1/app/{app_id}/msg/msg_x")
    assert (one.status_code, one.headers["allow"]) == (405, "GET")


def test_a_bad_query_value_is_said_to_be_in_the_query(http: httpx.Client) -> None:
    response = http.get("/api/v1/app", params={"iterator": "itr_OTk5OTk5OTk5OTk5OTk5"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "iterator"]


def test_an_inbound_body_too_deep_to_read_back_is_shown_raw(http: httpx.Client) -> None:
    source = http.post("/ingest/api/v1/source", json={"name": "raw", "type": "generic-webhook"})
    deep = b"[" * 3000 + b"]" * 3000
    received = httpx.post(
        source.json()["ingestUrl"], content=deep, headers={"content-type": "application/json"}
    )
    assert received.status_code == 200, received.text
    msg_id = received.json()["id"]
    shown = http.get(f"/ingest/api/v1/source/{source.json()['id']}/msg/{msg_id}")
    assert shown.status_code == 200
    assert shown.json()["payload"] == {"rawBody": deep.decode()}
