"""The BOLA matrix: for every route of the committed OpenAPI spec, a token bound to
application A asks for application B's objects, and is refused.

The table below names every route; a route in the spec that is missing from it
fails the test, so a new route cannot escape. Objects of another application
answer exactly as objects that do not exist (404, or the route's own 403 that
does not depend on the id), so a token learns nothing about other applications;
routes outside the token's kind answer 403.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from svix.api import ApplicationIn, AppPortalAccessIn, EndpointIn, EventTypeIn, MessageIn

from tests.conftest import sdk
from tests.harness import ServerProcess, tidings
from tests.waiting import eventually
from tidings.testing import Receiver

SPEC = Path(__file__).parents[3] / "docs" / "openapi.json"
SINCE = {"since": "2020-01-01T00:00:00Z"}
HOOK = {"url": "https://example.com/hook"}
MSG = {"eventType": "tick", "payload": {}}


@dataclass(frozen=True)
class Row:
    # What a token bound to A gets for B's objects: the application token's
    # status, then the (all-capability) portal token's.
    application: int
    portal: int
    body: dict[str, Any] | None = None


ADMIN_ONLY = Row(403, 403)
OTHERS = Row(404, 404)
SHARED = Row(200, 200)  # not an application's object: the shared event type catalog

TABLE: dict[tuple[str, str], Row] = {
    ("GET", "/api/v1/health"): Row(204, 204),
    ("GET", "/api/v1/app"): ADMIN_ONLY,
    ("POST", "/api/v1/app"): Row(403, 403, {"name": "x"}),
    ("GET", "/api/v1/app/{app_id}"): OTHERS,
    ("PATCH", "/api/v1/app/{app_id}"): Row(404, 403, {"name": "renamed"}),
    ("PUT", "/api/v1/app/{app_id}"): Row(403, 403, {"name": "replaced"}),
    ("DELETE", "/api/v1/app/{app_id}"): ADMIN_ONLY,
    ("GET", "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}"): OTHERS,
    ("GET", "/api/v1/app/{app_id}/attempt/msg/{msg_id}"): OTHERS,
    ("GET", "/api/v1/app/{app_id}/endpoint"): OTHERS,
    ("POST", "/api/v1/app/{app_id}/endpoint"): Row(404, 404, HOOK),
    ("GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"): OTHERS,
    ("PUT", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"): Row(404, 404, HOOK),
    ("PATCH", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"): Row(404, 404, {}),
    ("DELETE", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"): OTHERS,
    ("GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers"): OTHERS,
    ("PUT", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers"): Row(404, 404, {"headers": {}}),
    ("PATCH", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers"): Row(
        404, 404, {"headers": {}}
    ),
    ("POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover"): Row(404, 404, SINCE),
    ("POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing"): Row(404, 404, SINCE),
    ("GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret"): OTHERS,
    ("POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate"): Row(404, 404, {}),
    ("GET", "/api/v1/app/{app_id}/msg"): OTHERS,
    ("POST", "/api/v1/app/{app_id}/msg"): Row(404, 403, MSG),
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}"): OTHERS,
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}"): OTHERS,
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}/endpoint"): OTHERS,
    ("POST", "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend"): OTHERS,
    ("GET", "/api/v1/event-type"): SHARED,
    ("POST", "/api/v1/event-type"): Row(403, 403, {"name": "new", "description": "d"}),
    ("GET", "/api/v1/event-type/{event_type_name}"): SHARED,
    ("PUT", "/api/v1/event-type/{event_type_name}"): Row(403, 403, {"description": "d"}),
    ("PATCH", "/api/v1/event-type/{event_type_name}"): Row(403, 403, {}),
    ("DELETE", "/api/v1/event-type/{event_type_name}"): ADMIN_ONLY,
    ("POST", "/api/v1/auth/app-portal-access/{app_id}"): Row(403, 403, {}),
    ("POST", "/api/v1/auth/app/{app_id}/expire-all"): Row(403, 403, {}),
    # Ends the calling token itself, whatever application: tested in test_tokens.
    ("POST", "/api/v1/auth/logout"): Row(0, 0),
}
# The operator's: operational webhooks and inbound sources (with their events,
# endpoints, messages and attempts) are admin only, for every method.
ADMIN_PREFIXES = ("/api/v1/operational-webhook", "/ingest/")


def spec_routes() -> list[tuple[str, str]]:
    paths = json.loads(SPEC.read_text())["paths"]
    return [(method.upper(), path) for path, operations in paths.items() for method in operations]


def row_for(method: str, template: str) -> Row | None:
    if template.startswith(ADMIN_PREFIXES):
        return Row(403, 403, {} if method in ("POST", "PUT", "PATCH") else None)
    return TABLE.get((method, template))


def test_every_route_in_the_spec_is_in_the_table() -> None:
    missing = [route for route in spec_routes() if row_for(*route) is None]
    assert missing == [], f"add these routes to the BOLA table: {missing}"
    stale = [route for route in TABLE if route not in spec_routes()]
    assert stale == []


@dataclass
class World:
    server: ServerProcess
    app_token: str
    portal_token: str
    own: dict[str, str]  # A's objects, by path parameter
    others: dict[str, str]  # B's objects
    missing: dict[str, str]  # ids of nothing at all


@pytest.fixture
def world(server: ServerProcess, receiver: Receiver) -> Iterator[World]:
    admin = sdk(server)
    admin.event_type.create(EventTypeIn(name="tick", description="A tick"))
    objects = {}
    for name in ("alpha", "beta"):
        app = admin.application.create(ApplicationIn(name=name, uid=name)).id
        endpoint = admin.endpoint.create(app, EndpointIn(url=receiver.url())).id
        msg = admin.message.create(app, MessageIn(event_type="tick", payload={"app": name})).id
        attempt = eventually(
            lambda app=app, msg=msg: admin.message_attempt.list_by_msg(app, msg).data,
            lambda found: len(found) > 0,
        )[0].id
        objects[name] = {
            "app_id": app,
            "endpoint_id": endpoint,
            "msg_id": msg,
            "attempt_id": attempt,
            "event_type_name": "tick",
        }
    source = _post(
        server,
        server.token,
        "/ingest/api/v1/source",
        {"name": "gh", "type": "github", "config": {"secret": "s" * 24}},
    ).json()["id"]
    for found in objects.values():
        found["source_id"] = source
    env = server.cli_env()
    app_token = tidings("token", "create", "--app", "alpha", env=env).strip()
    portal_token = admin.authentication.app_portal_access("alpha", AppPortalAccessIn()).token
    missing = {
        "app_id": "app_0000000000000000000000",
        "endpoint_id": "ep_0000000000000000000000",
        "msg_id": "msg_0000000000000000000000",
        "attempt_id": "atmpt_0000000000000000000000",
        "event_type_name": "tick",
        "source_id": source,
    }
    yield World(server, app_token, portal_token, objects["alpha"], objects["beta"], missing)
    admin._httpx_client.close()


def _post(server: ServerProcess, token: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={"Authorization": f"Bearer {token}"})


def _ask(
    world: World, token: str, method: str, template: str, ids: dict[str, str], row: Row
) -> int:
    path = template.format(**{key: ids[key] for key in ids if "{" + key + "}" in template})
    response = httpx.request(
        method,
        world.server.url + path,
        json=row.body if method != "GET" else None,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code != 500, response.text
    return response.status_code


@pytest.mark.parametrize("kind", ["application", "portal"])
def test_a_token_bound_to_one_application_is_refused_anothers_objects(
    world: World, kind: str
) -> None:
    token = world.app_token if kind == "application" else world.portal_token
    refused = []
    for method, template in spec_routes():
        row = row_for(method, template)
        assert row is not None
        expected = row.application if kind == "application" else row.portal
        if expected == 0:
            continue
        got = _ask(world, token, method, template, world.others, row)
        if got != expected:
            refused.append((method, template, got, expected))
        if expected == 404:
            # Exactly as for ids of nothing at all: existence does not leak.
            assert _ask(world, token, method, template, world.missing, row) == 404, template
    assert refused == [], "status differs from the table (got, expected)"
    # And nothing of B's was changed by all of this.
    admin = world.server
    beta = world.others
    assert admin.get_json(f"/api/v1/app/{beta['app_id']}")["name"] == "beta"
    assert admin.get_json(f"/api/v1/app/{beta['app_id']}/endpoint/{beta['endpoint_id']}")["url"]
    listed = admin.get_json(f"/api/v1/app/{beta['app_id']}/msg")["data"]
    assert [msg["id"] for msg in listed] == [beta["msg_id"]]


@pytest.mark.parametrize("kind", ["application", "portal"])
def test_the_same_token_reads_its_own_application(world: World, kind: str) -> None:
    token = world.app_token if kind == "application" else world.portal_token
    for method, template in spec_routes():
        row = row_for(method, template)
        if method != "GET" or row is None or row.application != 404:
            continue
        assert _ask(world, token, method, template, world.own, row) == 200, template
