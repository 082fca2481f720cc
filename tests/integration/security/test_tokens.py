"""Scoped tokens against the real server, driven by the official SDK: portal
tokens from `app_portal_access`, application tokens from `tidings token create`,
expiry, expire-all, logout and revocation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from svix.api import (
    ApplicationIn,
    ApplicationTokenExpireIn,
    AppPortalAccessIn,
    AppPortalCapability,
    EndpointIn,
    EventTypeIn,
    MessageIn,
    Svix,
    SvixOptions,
)
from svix.exceptions import HttpError, HTTPValidationError

from tests.conftest import sdk
from tests.harness import ServerProcess, tidings
from tests.waiting import eventually

Cap = AppPortalCapability


_OPENED: list[Svix] = []


def as_token(server: ServerProcess, token: str) -> Svix:
    client = Svix(token, SvixOptions(server_url=server.url))
    _OPENED.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop()._httpx_client.close()


def status_of(call: object) -> int:
    """The HTTP status an SDK call failed with (0: it did not fail)."""
    try:
        call()  # type: ignore[operator]
    except HttpError as exc:
        return int(exc.status_code)
    except HTTPValidationError:
        return 422
    return 0


@pytest.fixture
def admin(server: ServerProcess) -> Iterator[Svix]:
    client = sdk(server)
    yield client
    client._httpx_client.close()


@pytest.fixture
def apps(admin: Svix) -> tuple[str, str]:
    mine = admin.application.create(ApplicationIn(name="Mine", uid="mine")).id
    theirs = admin.application.create(ApplicationIn(name="Theirs", uid="theirs")).id
    for app in (mine, theirs):
        admin.endpoint.create(app, EndpointIn(url="https://example.com/hook"))
    return mine, theirs


def portal(admin: Svix, app: str, **fields: object) -> str:
    return admin.authentication.app_portal_access(app, AppPortalAccessIn(**fields)).token


def test_a_portal_token_reaches_its_application_and_nothing_else(
    server: ServerProcess, admin: Svix, apps: tuple[str, str]
) -> None:
    mine, theirs = apps
    access = admin.authentication.app_portal_access(mine, AppPortalAccessIn())
    assert access.url.startswith(f"{server.url}/portal/{mine}#token=")
    client = as_token(server, access.token)
    assert client.application.get(mine).uid == "mine"
    assert client.application.get("mine").id == mine  # by uid too
    assert len(client.endpoint.list(mine).data) == 1
    # Another application's objects do not exist for it; admin routes are refused.
    assert status_of(lambda: client.application.get(theirs)) == 404
    assert status_of(lambda: client.endpoint.list("theirs")) == 404
    assert status_of(lambda: client.application.list()) == 403
    assert (
        status_of(lambda: client.event_type.create(EventTypeIn(name="x", description="x"))) == 403
    )
    # Portal tokens read and manage; they do not send messages.
    assert (
        status_of(lambda: client.message.create(mine, MessageIn(event_type="a", payload={}))) == 403
    )
    created = client.endpoint.create(mine, EndpointIn(url="https://example.com/other"))
    assert client.endpoint.get_secret(mine, created.id).key.startswith("whsec_")


def test_read_only_and_capabilities_narrow_a_portal_token(
    server: ServerProcess, admin: Svix, apps: tuple[str, str]
) -> None:
    mine, _ = apps
    endpoint = admin.endpoint.list(mine).data[0].id
    read_only = as_token(server, portal(admin, mine, read_only=True))
    assert len(read_only.endpoint.list(mine).data) == 1
    assert read_only.endpoint.get_secret(mine, endpoint).key.startswith("whsec_")
    assert (
        status_of(lambda: read_only.endpoint.create(mine, EndpointIn(url="https://a.example/")))
        == 403
    )
    base = as_token(server, portal(admin, mine, capabilities=[Cap.VIEW_BASE]))
    assert len(base.endpoint.list(mine).data) == 1
    assert status_of(lambda: base.endpoint.get_secret(mine, endpoint)) == 403
    assert status_of(lambda: base.endpoint.delete(mine, endpoint)) == 403
    secrets = as_token(
        server, portal(admin, mine, capabilities=[Cap.VIEW_BASE, Cap.VIEW_ENDPOINT_SECRET])
    )
    assert secrets.endpoint.get_secret(mine, endpoint).key.startswith("whsec_")
    assert status_of(lambda: secrets.endpoint.rotate_secret(mine, endpoint, _rotate())) == 403
    rotating = as_token(
        server, portal(admin, mine, capabilities=[Cap.VIEW_BASE, Cap.MANAGE_ENDPOINT_SECRET])
    )
    rotating.endpoint.rotate_secret(mine, endpoint, _rotate())


def _rotate() -> object:
    from svix.api import EndpointSecretRotateIn

    return EndpointSecretRotateIn()


def test_portal_access_checks_what_it_is_asked_for(
    server: ServerProcess, admin: Svix, apps: tuple[str, str]
) -> None:
    mine, _ = apps
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}
    ) as http:
        no_base = http.post(
            f"/api/v1/auth/app-portal-access/{mine}", json={"capabilities": ["ViewEndpointSecret"]}
        )
        short = http.post(f"/api/v1/auth/app-portal-access/{mine}", json={"expiry": 60})
        missing = http.post("/api/v1/auth/app-portal-access/nobody", json={})
    assert no_base.status_code == 422 and "ViewBase" in no_base.text
    assert short.status_code == 422
    assert missing.status_code == 404
    # Asked with an application, it creates the one the path names.
    made = admin.authentication.app_portal_access(
        "newcomer", AppPortalAccessIn(application=ApplicationIn(name="Newcomer"))
    )
    assert admin.application.get("newcomer").name == "Newcomer"
    assert as_token(server, made.token).application.get("newcomer").name == "Newcomer"
    reserved = admin.authentication.app_portal_access
    assert (
        status_of(
            lambda: reserved("__tidings_x", AppPortalAccessIn(application=ApplicationIn(name="x")))
        )
        == 422
    )


def test_expire_all_and_logout_end_tokens(
    server: ServerProcess, admin: Svix, apps: tuple[str, str]
) -> None:
    mine, theirs = apps
    kept_session = as_token(server, portal(admin, mine, session_id="keep"))
    ended_session = as_token(server, portal(admin, mine, session_id="end"))
    elsewhere = as_token(server, portal(admin, theirs))
    admin.authentication.expire_all(mine, ApplicationTokenExpireIn(session_ids=["end"]))
    assert status_of(lambda: ended_session.application.get(mine)) == 401
    assert kept_session.application.get(mine).id == mine
    admin.authentication.expire_all(mine, ApplicationTokenExpireIn())
    assert status_of(lambda: kept_session.application.get(mine)) == 401
    assert elsewhere.application.get(theirs).id == theirs
    elsewhere.authentication.logout()
    assert status_of(lambda: elsewhere.application.get(theirs)) == 401
    assert status_of(lambda: admin.authentication.logout()) == 403
    later = as_token(server, portal(admin, mine))
    admin.authentication.expire_all(mine, ApplicationTokenExpireIn(expiry=3600))
    assert later.application.get(mine).id == mine  # ends in an hour, not now


def test_an_application_token_sends_to_its_application_only(
    server: ServerProcess, admin: Svix, apps: tuple[str, str]
) -> None:
    mine, theirs = apps
    env = server.cli_env()
    token = tidings("token", "create", "--app", "mine", "--name", "billing", env=env).strip()
    client = as_token(server, token)
    for _ in range(3):  # the lean message path serves it once this process knows it
        client.message.create(mine, MessageIn(event_type="invoice.paid", payload={"n": 1}))
    assert len(client.message.list(mine).data) == 3
    assert (
        status_of(lambda: client.message.create(theirs, MessageIn(event_type="a", payload={})))
        == 404
    )
    assert status_of(lambda: client.message.list(theirs)) == 404
    assert status_of(lambda: client.application.delete(mine)) == 403
    listed = tidings("token", "list", env=env)
    assert "application" in listed and mine in listed and "billing" in listed
    assert token not in listed


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_revoked_token_stops_in_every_api_process_within_seconds(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    settings = {"api_processes": "2"}
    if backend == "postgres":
        settings["database_url"] = request.getfixturevalue("postgres_database")
    server = ServerProcess(tmp_path, **settings).start()
    admin = sdk(server)
    app = admin.application.create(ApplicationIn(name="A", uid="a")).id
    env = server.cli_env()
    token = tidings("token", "create", "--app", "a", env=env).strip()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        # New connections spread over both processes; each learns the token.
        assert all(
            http.get(f"/api/v1/app/{app}", headers={"Connection": "close"}).status_code == 200
            for _ in range(20)
        )
        token_id = tidings("token", "list", env=env).splitlines()[-1].split()[0]
        tidings("token", "revoke", token_id, env=env)
        revoked_at = time.monotonic()
        eventually(
            lambda: http.get(f"/api/v1/app/{app}", headers={"Connection": "close"}).status_code,
            lambda status: status == 401,
            timeout=10,
        )
        # From 5 s on, no process accepts it.
        time.sleep(max(0.0, 5 - (time.monotonic() - revoked_at)))
        statuses = {
            http.get(f"/api/v1/app/{app}", headers={"Connection": "close"}).status_code
            for _ in range(20)
        }
    assert statuses == {401}
    admin._httpx_client.close()
    server.stop()


def test_an_expired_application_token_is_refused(
    server: ServerProcess, apps: tuple[str, str]
) -> None:
    env = server.cli_env()
    token = tidings("token", "create", "--app", "mine", "--expires", "1s", env=env).strip()
    client = as_token(server, token)
    assert client.application.get("mine").uid == "mine"
    time.sleep(1.1)
    assert status_of(lambda: client.application.get("mine")) == 401
