"""Every SDK call Tidings supports, driven through the official `svix` SDK, sync and async.

Each scenario is written once as a coroutine over a client `c` and runs twice: with the
sync `Svix` client and with `SvixAsync`. Calls are written `await call(c.x.y(...))`:
`call` awaits the async client's coroutine and passes the sync client's result through,
so both flavours make exactly the same requests against a real `tidings serve`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import inspect
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
import standardwebhooks
from svix.api import (
    ApplicationIn,
    ApplicationListOptions,
    ApplicationPatch,
    EndpointHeadersIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointListOptions,
    EndpointPatch,
    EndpointSecretRotateIn,
    EndpointUpsertIn,
    EventTypeDeleteOptions,
    EventTypeIn,
    EventTypeListOptions,
    EventTypePatch,
    EventTypeUpsertIn,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageAttemptTriggerType,
    MessageCreateOptions,
    MessageGetOptions,
    MessageIn,
    MessageListOptions,
    MessageStatus,
    MessageStatusText,
    Ordering,
    Svix,
    SvixAsync,
)
from svix.exceptions import HttpError, HTTPValidationError

from tests.conftest import async_sdk, sdk
from tests.harness import ServerProcess
from tidings.testing import Received, Receiver

T = TypeVar("T")
AnySvix = Svix | SvixAsync
Scenario = Callable[[Any], Coroutine[Any, Any, None]]
Drive = Callable[[Scenario], None]

FLAVOURS = ["sync", "async"]


# --- running one scenario with either client ------------------------------------------


# The HTTP status of every response each open client received, keyed by id(client):
# the SDK hides statuses, but Svix's (201 on create, 202 on send, 204 on delete) are
# part of the wire contract other clients rely on.
STATUSES: dict[int, list[int]] = {}


def last_status(c: AnySvix) -> int:
    return STATUSES[id(c)][-1]


@contextlib.asynccontextmanager
async def connect(flavour: str, target: ServerProcess) -> AsyncIterator[AnySvix]:
    """A sync or async SDK client for `target`'s url and token, closed afterwards."""
    seen: list[int] = []

    def record(response: httpx.Response) -> None:
        seen.append(response.status_code)

    async def record_async(response: httpx.Response) -> None:
        record(response)

    if flavour == "async":
        async with async_sdk(target) as client:
            client._httpx_client.event_hooks = {"response": [record_async]}
            STATUSES[id(client)] = seen
            try:
                yield client
            finally:
                del STATUSES[id(client)]
    else:
        client = sdk(target)
        client._httpx_client.event_hooks = {"response": [record]}
        STATUSES[id(client)] = seen
        try:
            yield client
        finally:
            del STATUSES[id(client)]
            client._httpx_client.close()


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def drive(flavour: str, server: ServerProcess) -> Drive:
    """Run a scenario coroutine against the server with the chosen SDK flavour."""

    async def main(scenario: Scenario) -> None:
        async with connect(flavour, server) as client:
            await scenario(client)

    def run(scenario: Scenario) -> None:
        try:
            asyncio.run(main(scenario))
        except BaseException:
            print(f"--- server output ---\n{server.output()}")
            raise

    return run


async def call(result: Awaitable[T] | T) -> T:
    """Await an async SDK call; pass a sync SDK call's result through."""
    if inspect.isawaitable(result):
        return await result
    return result


# --- shared assertions ----------------------------------------------------------------


async def fails(request: Callable[[], Any], status: int) -> HttpError:
    """The SDK call raises svix's HttpError with `status` and a Svix error body."""
    with pytest.raises(HttpError) as info:
        await call(request())
    error = info.value
    assert error.status_code == status, f"expected {status}, got {error.status_code}: {error}"
    assert isinstance(error.code, str) and error.code, f"no `code` in the error body: {error}"
    assert isinstance(error.detail, str) and error.detail, f"no `detail` in the body: {error}"
    return error


async def fails_validation(request: Callable[[], Any], field: str) -> HTTPValidationError:
    """The SDK call raises svix's HTTPValidationError (422) naming `field`."""
    with pytest.raises(HTTPValidationError) as info:
        await call(request())
    error = info.value
    assert error.status_code == 422
    assert error.detail, "a 422 must list at least one validation error"
    locations = [[str(part) for part in item.loc] for item in error.detail]
    assert any(field in loc for loc in locations), f"{field!r} not in {locations}"
    assert all(item.msg for item in error.detail)
    return error


async def eventually(check: Callable[[], Awaitable[T]], within: float = 15.0) -> T:
    """Retry `check` until it stops failing an assertion, for up to `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def walk_pages(fetch: Callable[[str | None], Any], limit: int) -> list[Any]:
    """Follow `iterator` until `done`, checking each page; every item, in order."""
    items: list[Any] = []
    iterator: str | None = None
    for _ in range(100):
        page = await call(fetch(iterator))
        assert len(page.data) <= limit
        items.extend(page.data)
        if page.done:
            return items
        assert page.data, "a page that is not the last must not be empty"
        assert page.iterator, "a page that is not the last must carry an iterator"
        iterator = page.iterator
    raise AssertionError("pagination never reported done")


def ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


def header(request: Received, name: str) -> str:
    matches = [v for k, v in request.headers.items() if k.lower() == name.lower()]
    assert matches, f"no {name} header in {sorted(request.headers)}"
    return matches[0]


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


# --- health and error shapes ----------------------------------------------------------


def test_health_and_error_shapes(drive: Drive, flavour: str, server: ServerProcess) -> None:
    async def scenario(c: AnySvix) -> None:
        assert await call(c.health.get()) is None

        intruder = copy.copy(server)
        intruder.token = "test_not-the-token"
        async with connect(flavour, intruder) as wrong:
            await fails(lambda: wrong.application.list(), 401)
            await fails(lambda: wrong.application.create(ApplicationIn(name="x")), 401)

        await fails(lambda: c.application.get("app_doesnotexist0000000000"), 404)
        await fails(lambda: c.application.get("no-such-uid"), 404)
        await fails(lambda: c.endpoint.list("no-such-uid"), 404)
        await fails(lambda: c.message.get("no-such-uid", "msg_nope"), 404)

        await call(c.application.create(ApplicationIn(name="First", uid="dup")))
        await fails(lambda: c.application.create(ApplicationIn(name="Second", uid="dup")), 409)
        assert (await call(c.application.get("dup"))).name == "First"

        for bad_url in ("ftp://x", "not a url", "http://", "example.com/hook"):
            await fails_validation(
                lambda u=bad_url: c.endpoint.create("dup", EndpointIn(url=u)), "url"
            )
        assert (await call(c.endpoint.list("dup"))).data == []

    drive(scenario)


# --- applications ---------------------------------------------------------------------


def test_application_crud(drive: Drive) -> None:
    async def scenario(c: AnySvix) -> None:
        created = await call(
            c.application.create(
                ApplicationIn(name="Acme", uid="acme", metadata={"tier": "gold"}, throttle_rate=7)
            )
        )
        assert last_status(c) == 201
        assert created.id.startswith("app_")
        assert (created.name, created.uid, created.metadata) == ("Acme", "acme", {"tier": "gold"})
        assert created.throttle_rate == 7
        assert created.created_at.tzinfo is not None
        assert created.updated_at >= created.created_at

        for key in (created.id, "acme"):
            fetched = await call(c.application.get(key))
            assert (fetched.id, fetched.name, fetched.uid) == (created.id, "Acme", "acme")
            assert fetched.metadata == {"tier": "gold"}

        again = await call(c.application.get_or_create(ApplicationIn(name="Other", uid="acme")))
        assert again.id == created.id
        assert again.name == "Acme", "get_or_create must return the existing app unchanged"
        fresh = await call(c.application.get_or_create(ApplicationIn(name="Fresh", uid="fresh")))
        assert fresh.id != created.id and fresh.uid == "fresh"
        assert (
            await call(c.application.get_or_create(ApplicationIn(name="Fresh", uid="fresh")))
        ).id == fresh.id

        # PUT creates when missing, then replaces in place.
        upserted = await call(
            c.application.upsert("upserted", ApplicationIn(name="Up", uid="upserted"))
        )
        assert last_status(c) == 201
        assert upserted.id.startswith("app_") and upserted.uid == "upserted"
        assert (await call(c.application.get("upserted"))).id == upserted.id
        replaced = await call(
            c.application.upsert(
                "upserted", ApplicationIn(name="Up 2", uid="upserted", metadata={"v": "2"})
            )
        )
        assert last_status(c) == 200
        assert replaced.id == upserted.id
        assert (replaced.name, replaced.metadata) == ("Up 2", {"v": "2"})
        replaced_by_id = await call(
            c.application.upsert(upserted.id, ApplicationIn(name="Up 3", uid="upserted"))
        )
        assert (replaced_by_id.id, replaced_by_id.name) == (upserted.id, "Up 3")
        assert replaced_by_id.metadata == {}, "PUT replaces: unsent metadata is cleared"

        patched = await call(c.application.patch("acme", ApplicationPatch(name="Acme Corp")))
        assert (patched.id, patched.name, patched.uid) == (created.id, "Acme Corp", "acme")
        assert patched.metadata == {"tier": "gold"}, "patch must leave unsent fields alone"
        assert patched.throttle_rate == 7
        patched = await call(
            c.application.patch(created.id, ApplicationPatch(metadata={"tier": "silver"}))
        )
        assert (patched.name, patched.metadata) == ("Acme Corp", {"tier": "silver"})
        assert (await call(c.application.get("acme"))).name == "Acme Corp"
        renamed = await call(c.application.patch("acme", ApplicationPatch(uid="acme-2")))
        assert (renamed.id, renamed.uid) == (created.id, "acme-2")
        assert (await call(c.application.get("acme-2"))).id == created.id
        await fails(lambda: c.application.get("acme"), 404)
        await call(c.application.patch("acme-2", ApplicationPatch(uid="acme")))

        assert await call(c.application.delete(created.id)) is None
        assert last_status(c) == 204
        await fails(lambda: c.application.get(created.id), 404)
        await fails(lambda: c.application.get("acme"), 404)
        await fails(lambda: c.application.delete(created.id), 404)
        remaining = await call(c.application.list())
        assert created.id not in ids(remaining.data)
        assert {fresh.id, upserted.id} <= set(ids(remaining.data))

    drive(scenario)


def test_application_list_paging_and_order(drive: Drive) -> None:
    async def scenario(c: AnySvix) -> None:
        made = [
            await call(c.application.create(ApplicationIn(name=f"App {i}", uid=f"app-{i}")))
            for i in range(7)
        ]
        created = ids(made)

        first = await call(c.application.list(ApplicationListOptions(limit=3)))
        assert len(first.data) == 3
        assert first.done is False and first.iterator

        def page(order: Ordering) -> Callable[[str | None], Any]:
            return lambda it: c.application.list(
                ApplicationListOptions(limit=3, iterator=it, order=order)
            )

        ascending = ids(await walk_pages(page(Ordering.ASCENDING), 3))
        assert ascending == created
        descending = ids(await walk_pages(page(Ordering.DESCENDING), 3))
        assert descending == list(reversed(created))

        everything = await call(c.application.list(ApplicationListOptions(limit=250)))
        assert everything.done is True
        assert sorted(ids(everything.data)) == sorted(created)

    drive(scenario)


# --- event types ----------------------------------------------------------------------


def test_event_type_lifecycle(drive: Drive) -> None:
    schema = {"1": {"type": "object", "properties": {"id": {"type": "string"}}}}

    async def names(c: AnySvix, **options: Any) -> list[str]:
        listed = await call(c.event_type.list(EventTypeListOptions(limit=250, **options)))
        return [item.name for item in listed.data]

    async def scenario(c: AnySvix) -> None:
        created = await call(
            c.event_type.create(
                EventTypeIn(
                    name="invoice.paid",
                    description="An invoice was paid",
                    schemas=schema,
                    group_name="billing",
                )
            )
        )
        assert last_status(c) == 201
        assert (created.name, created.description) == ("invoice.paid", "An invoice was paid")
        assert created.schemas == schema and created.group_name == "billing"
        assert created.deprecated is False and not created.archived
        await call(c.event_type.create(EventTypeIn(name="user.created", description="A user")))
        await fails(
            lambda: c.event_type.create(EventTypeIn(name="user.created", description="again")), 409
        )

        fetched = await call(c.event_type.get("invoice.paid"))
        assert (fetched.name, fetched.description, fetched.schemas) == (
            "invoice.paid",
            "An invoice was paid",
            schema,
        )
        await fails(lambda: c.event_type.get("no.such.type"), 404)
        assert await names(c) == ["invoice.paid", "user.created"]
        # Listing leaves schemas out unless asked (the SDK sends with_content=false).
        (lean, _) = (await call(c.event_type.list(EventTypeListOptions()))).data
        assert lean.name == "invoice.paid" and lean.schemas is None
        full = await call(c.event_type.list(EventTypeListOptions(with_content=True)))
        assert full.data[0].schemas == schema

        updated = await call(
            c.event_type.upsert("invoice.paid", EventTypeUpsertIn(description="Paid in full"))
        )
        assert last_status(c) == 200
        assert (updated.name, updated.description) == ("invoice.paid", "Paid in full")
        assert (await call(c.event_type.get("invoice.paid"))).description == "Paid in full"

        patched = await call(c.event_type.patch("user.created", EventTypePatch(deprecated=True)))
        assert patched.deprecated is True and patched.description == "A user"
        patched = await call(
            c.event_type.patch("user.created", EventTypePatch(description="A new user"))
        )
        assert patched.deprecated is True and patched.description == "A new user"

        # Deleting archives: hidden by default, listed with include_archived, still readable.
        assert await call(c.event_type.delete("user.created")) is None
        assert last_status(c) == 204
        assert "user.created" not in await names(c)
        assert "user.created" in await names(c, include_archived=True)
        archived = await call(c.event_type.get("user.created"))
        assert archived.archived is True

        # Expunging removes it for good.
        await call(c.event_type.delete("user.created", EventTypeDeleteOptions(expunge=True)))
        await fails(lambda: c.event_type.get("user.created"), 404)
        assert "user.created" not in await names(c, include_archived=True)
        assert await names(c) == ["invoice.paid"]

    drive(scenario)


def test_event_type_upsert_creates_when_missing(drive: Drive) -> None:
    async def scenario(c: AnySvix) -> None:
        made = await call(
            c.event_type.upsert("order.shipped", EventTypeUpsertIn(description="Shipped"))
        )
        created_status = last_status(c)  # asserted last, so it cannot hide the checks below
        assert (made.name, made.description, made.archived) == ("order.shipped", "Shipped", False)
        assert (await call(c.event_type.get("order.shipped"))).description == "Shipped"
        again = await call(
            c.event_type.upsert("order.shipped", EventTypeUpsertIn(description="Sent"))
        )
        assert (again.description, last_status(c)) == ("Sent", 200)
        assert created_status == 201, "a PUT that creates an event type answers 201 Created"

    drive(scenario)


def test_event_type_create_unarchives(drive: Drive) -> None:
    async def scenario(c: AnySvix) -> None:
        await call(c.event_type.create(EventTypeIn(name="user.created", description="A user")))
        await call(c.event_type.delete("user.created"))
        assert (await call(c.event_type.get("user.created"))).archived is True

        # Svix: "Create new or unarchive existing event type" (fields are replaced).
        revived = await call(
            c.event_type.create(EventTypeIn(name="user.created", description="Back"))
        )
        assert last_status(c) == 201
        assert (revived.name, revived.description, revived.archived) == (
            "user.created",
            "Back",
            False,
        )
        listed = await call(c.event_type.list())
        assert [item.name for item in listed.data] == ["user.created"]

    drive(scenario)


# --- endpoints ------------------------------------------------------------------------


def test_endpoint_crud_and_listing(drive: Drive) -> None:
    async def scenario(c: AnySvix) -> None:
        app = await call(c.application.create(ApplicationIn(name="Acme", uid="acme")))
        for name in ("invoice.paid", "invoice.voided"):
            await call(c.event_type.create(EventTypeIn(name=name, description=name)))
        secret = new_secret()
        endpoint = await call(
            c.endpoint.create(
                app.id,
                EndpointIn(
                    url="https://hooks.example.com/acme",
                    description="Billing hooks",
                    event_types=["invoice.paid", "invoice.voided"],
                    channels=["project_1", "project_2"],
                    uid="billing",
                    disabled=True,
                    metadata={"owner": "team-billing"},
                    headers={"X-Team": "billing"},
                    throttle_rate=5,
                    secret=secret,
                ),
            )
        )
        assert last_status(c) == 201
        assert endpoint.id.startswith("ep_")
        assert endpoint.url == "https://hooks.example.com/acme"
        assert endpoint.description == "Billing hooks"
        assert sorted(endpoint.event_types or []) == ["invoice.paid", "invoice.voided"]
        assert sorted(endpoint.channels or []) == ["project_1", "project_2"]
        assert (endpoint.uid, endpoint.disabled, endpoint.throttle_rate) == ("billing", True, 5)
        assert endpoint.metadata == {"owner": "team-billing"}

        for key in (endpoint.id, "billing"):
            fetched = await call(c.endpoint.get("acme", key))
            assert fetched.model_dump() == endpoint.model_dump()
        await fails(lambda: c.endpoint.get(app.id, "ep_missing"), 404)

        plain = await call(
            c.endpoint.create(app.id, EndpointIn(url="https://hooks.example.com/plain"))
        )
        assert plain.description == "" and plain.disabled in (False, None)
        assert plain.event_types in (None, []) and plain.channels in (None, [])
        assert plain.metadata == {}
        third = await call(
            c.endpoint.create(app.id, EndpointIn(url="https://hooks.example.com/third"))
        )

        listed = await call(c.endpoint.list(app.id))
        assert set(ids(listed.data)) == {endpoint.id, plain.id, third.id} and listed.done

        def page(order: Ordering) -> Callable[[str | None], Any]:
            return lambda it: c.endpoint.list(
                app.id, EndpointListOptions(limit=2, iterator=it, order=order)
            )

        ascending = ids(await walk_pages(page(Ordering.ASCENDING), 2))
        assert ascending == [endpoint.id, plain.id, third.id]
        assert ids(await walk_pages(page(Ordering.DESCENDING), 2)) == list(reversed(ascending))

        # PUT replaces an existing endpoint...
        replaced = await call(
            c.endpoint.upsert(
                app.id,
                "billing",
                EndpointUpsertIn(
                    url="https://hooks.example.com/v2", description="v2", uid="billing"
                ),
            )
        )
        assert (replaced.id, replaced.url, replaced.description) == (
            endpoint.id,
            "https://hooks.example.com/v2",
            "v2",
        )
        assert last_status(c) == 200
        assert replaced.disabled in (False, None), "PUT replaces: unsent fields revert to defaults"
        assert replaced.event_types in (None, []) and replaced.channels in (None, [])
        assert replaced.metadata == {} and replaced.throttle_rate is None
        assert (await call(c.endpoint.get_secret(app.id, "billing"))).key == secret
        assert lowered((await call(c.endpoint.get_headers(app.id, "billing"))).headers) == {
            "x-team": "billing"
        }, "PUT does not send headers, so it must keep them"
        # ...and creates a missing one.
        made = await call(
            c.endpoint.upsert(
                app.id, "ops", EndpointUpsertIn(url="https://hooks.example.com/ops", uid="ops")
            )
        )
        assert last_status(c) == 201
        assert made.id.startswith("ep_") and made.uid == "ops"
        assert (await call(c.endpoint.get(app.id, "ops"))).id == made.id

        patched = await call(
            c.endpoint.patch(
                app.id, plain.id, EndpointPatch(description="patched", metadata={"k": "v"})
            )
        )
        assert (patched.id, patched.description, patched.metadata) == (
            plain.id,
            "patched",
            {"k": "v"},
        )
        assert patched.url == "https://hooks.example.com/plain", "patch must leave the url alone"
        patched = await call(
            c.endpoint.patch(app.id, plain.id, EndpointPatch(disabled=True, channels=["c1"]))
        )
        assert patched.disabled is True and patched.channels == ["c1"]
        assert patched.description == "patched"
        patched = await call(c.endpoint.patch(app.id, plain.id, EndpointPatch(channels=None)))
        assert patched.channels in (None, []), "an explicit null clears a patchable list"
        assert patched.disabled is True
        await fails_validation(
            lambda: c.endpoint.patch(app.id, plain.id, EndpointPatch(url="ftp://x")), "url"
        )

        assert await call(c.endpoint.delete(app.id, plain.id)) is None
        assert last_status(c) == 204
        await fails(lambda: c.endpoint.get(app.id, plain.id), 404)
        await fails(lambda: c.endpoint.delete(app.id, plain.id), 404)
        remaining = await call(c.endpoint.list(app.id))
        assert set(ids(remaining.data)) == {endpoint.id, third.id, made.id}

    drive(scenario)


def test_endpoint_secret_and_headers(drive: Drive) -> None:
    async def scenario(c: AnySvix) -> None:
        app = await call(c.application.create(ApplicationIn(name="Acme")))
        given = new_secret()
        chosen = await call(
            c.endpoint.create(app.id, EndpointIn(url="https://h.example.com/1", secret=given))
        )
        assert (await call(c.endpoint.get_secret(app.id, chosen.id))).key == given

        bare_key = base64.b64encode(secrets.token_bytes(32)).decode()
        unprefixed = await call(
            c.endpoint.create(app.id, EndpointIn(url="https://h.example.com/2", secret=bare_key))
        )
        assert (await call(c.endpoint.get_secret(app.id, unprefixed.id))).key in (
            bare_key,
            "whsec_" + bare_key,
        )

        generated = await call(
            c.endpoint.create(
                app.id,
                EndpointIn(
                    url="https://h.example.com/3",
                    uid="gen",
                    headers={"X-Custom": "one", "Authorization": "Bearer s3cret"},
                ),
            )
        )
        original = (await call(c.endpoint.get_secret(app.id, "gen"))).key
        assert original.startswith("whsec_")
        assert len(base64.b64decode(original.removeprefix("whsec_"))) >= 24

        rotated = await call(
            c.endpoint.rotate_secret(app.id, generated.id, EndpointSecretRotateIn())
        )
        assert rotated.key.startswith("whsec_") and rotated.key != original
        assert (await call(c.endpoint.get_secret(app.id, generated.id))).key == rotated.key
        chosen_key = new_secret()
        explicit = await call(
            c.endpoint.rotate_secret(app.id, "gen", EndpointSecretRotateIn(key=chosen_key))
        )
        assert explicit.key == chosen_key
        assert (await call(c.endpoint.get_secret(app.id, "gen"))).key == chosen_key

        # Headers: sensitive ones are reported by name, never echoed.
        shown = await call(c.endpoint.get_headers(app.id, "gen"))
        assert lowered(shown.headers) == {"x-custom": "one"}
        assert [name.lower() for name in shown.sensitive] == ["authorization"]
        assert "Bearer s3cret" not in shown.headers.values()

        replace_all = EndpointHeadersIn(headers={"X-A": "a"})
        assert await call(c.endpoint.set_headers(app.id, "gen", replace_all)) is None
        assert last_status(c) == 204
        shown = await call(c.endpoint.get_headers(app.id, "gen"))
        assert lowered(shown.headers) == {"x-a": "a"} and shown.sensitive == []

        await call(
            c.endpoint.patch_headers(
                app.id,
                "gen",
                EndpointHeadersPatchIn(
                    headers={"X-B": "b", "Authorization": "Bearer z"}, delete_headers=["X-A"]
                ),
            )
        )
        assert last_status(c) == 204
        shown = await call(c.endpoint.get_headers(app.id, "gen"))
        assert lowered(shown.headers) == {"x-b": "b"}
        assert [name.lower() for name in shown.sensitive] == ["authorization"]

        await call(
            c.endpoint.patch_headers(app.id, "gen", EndpointHeadersPatchIn(headers={"X-C": "c"}))
        )
        shown = await call(c.endpoint.get_headers(app.id, "gen"))
        assert lowered(shown.headers) == {"x-b": "b", "x-c": "c"}
        assert [name.lower() for name in shown.sensitive] == ["authorization"]

        await call(
            c.endpoint.patch_headers(
                app.id,
                "gen",
                EndpointHeadersPatchIn(headers={}, delete_headers=["Authorization", "X-B"]),
            )
        )
        shown = await call(c.endpoint.get_headers(app.id, "gen"))
        assert lowered(shown.headers) == {"x-c": "c"} and shown.sensitive == []

    drive(scenario)


def test_rotate_secret_rejects_a_malformed_key(drive: Drive) -> None:
    async def scenario(c: AnySvix) -> None:
        app = await call(c.application.create(ApplicationIn(name="Acme")))
        endpoint = await call(c.endpoint.create(app.id, EndpointIn(url="https://h.example.com/1")))
        before = (await call(c.endpoint.get_secret(app.id, endpoint.id))).key

        # A malformed key is a 422 naming the SDK's field, and leaves the secret alone.
        for bad in ("whsec_short", "not base64!", "whsec_" + base64.b64encode(b"x" * 8).decode()):
            await fails_validation(
                lambda k=bad: c.endpoint.rotate_secret(
                    app.id, endpoint.id, EndpointSecretRotateIn(key=k)
                ),
                "key",
            )
        assert (await call(c.endpoint.get_secret(app.id, endpoint.id))).key == before

    drive(scenario)


# --- messages -------------------------------------------------------------------------


PAYLOAD = {
    "id": "inv_1",
    "amount": 4200,
    "paid": True,
    "note": None,
    "lines": [{"sku": "a", "qty": 2}],
    "customer": {"name": "Zoë", "tags": ["vip"]},
}


def test_message_create_idempotency_and_get(drive: Drive) -> None:
    async def scenario(c: AnySvix) -> None:
        app = await call(c.application.create(ApplicationIn(name="Acme", uid="acme")))
        message_in = MessageIn(
            event_type="invoice.paid",
            payload=PAYLOAD,
            event_id="evt-001",
            channels=["project_1", "org:acme"],
            tags=["billing", "eu"],
        )
        sent = await call(
            c.message.create("acme", message_in, MessageCreateOptions(with_content=True))
        )
        assert last_status(c) == 202
        assert sent.id.startswith("msg_")
        assert (sent.event_type, sent.event_id, sent.payload) == (
            "invoice.paid",
            "evt-001",
            PAYLOAD,
        )
        assert sorted(sent.channels or []) == ["org:acme", "project_1"]
        assert sorted(sent.tags or []) == ["billing", "eu"]
        assert sent.timestamp.tzinfo is not None

        # The SDK's default asks for no content back.
        lean = await call(
            c.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"n": 1}))
        )
        assert lean.payload == {} and lean.event_type == "invoice.paid"

        for key in (sent.id, "evt-001"):
            fetched = await call(c.message.get(app.id, key, MessageGetOptions(with_content=True)))
            assert (fetched.id, fetched.event_id, fetched.payload) == (sent.id, "evt-001", PAYLOAD)
            assert sorted(fetched.tags or []) == ["billing", "eu"]
            assert sorted(fetched.channels or []) == ["org:acme", "project_1"]
        await fails(lambda: c.message.get(app.id, "msg_missing"), 404)
        # The SDK's default get asks for no content either.
        assert (await call(c.message.get(app.id, sent.id))).payload == {}
        # An eventId names one message per application.
        duplicate = MessageIn(event_type="invoice.paid", payload={}, event_id="evt-001")
        await fails(lambda: c.message.create(app.id, duplicate), 409)

        once = MessageIn(event_type="order.placed", payload={"order": 7})
        key = "order-7-" + secrets.token_hex(4)
        first = await call(
            c.message.create(app.id, once, MessageCreateOptions(idempotency_key=key))
        )
        second = await call(
            c.message.create(app.id, once, MessageCreateOptions(idempotency_key=key))
        )
        assert last_status(c) == 202
        assert second.id == first.id and second.timestamp == first.timestamp
        listed = await call(c.message.list(app.id, MessageListOptions(limit=250)))
        assert ids(listed.data).count(first.id) == 1
        assert len(listed.data) == 3

        # Messages to a missing application are refused; `application` creates it.
        await fails(lambda: c.message.create("nobody", once), 404)
        auto = await call(
            c.message.create(
                "newco",
                MessageIn(event_type="hello", payload={}, application=ApplicationIn(name="NewCo")),
            )
        )
        assert auto.id.startswith("msg_")
        assert (await call(c.application.get("newco"))).name == "NewCo"

    drive(scenario)


def test_message_list_filters(drive: Drive) -> None:
    async def listed(c: AnySvix, app_id: str, **options: Any) -> list[Any]:
        page = await call(c.message.list(app_id, MessageListOptions(limit=250, **options)))
        assert page.done
        return list(page.data)

    async def scenario(c: AnySvix) -> None:
        app = await call(c.application.create(ApplicationIn(name="Acme")))

        async def send(event_type: str, n: int, **fields: Any) -> Any:
            message_in = MessageIn(event_type=event_type, payload={"n": n}, **fields)
            return await call(c.message.create(app.id, message_in))

        early = [
            await send("invoice.paid", 0, channels=["eu"], tags=["billing"]),
            await send("invoice.voided", 1, channels=["us"]),
            await send("user.created", 2, tags=["signup"]),
        ]
        await asyncio.sleep(0.1)
        late = [
            await send("invoice.paid", 3, channels=["eu", "us"], tags=["billing", "late"]),
            await send("user.created", 4),
        ]
        everyone = early + late
        newest_first = list(reversed(ids(everyone)))

        assert ids(await listed(c, app.id)) == newest_first
        walked = await walk_pages(
            lambda it: c.message.list(app.id, MessageListOptions(limit=2, iterator=it)), 2
        )
        assert ids(walked) == newest_first

        contentless = await listed(c, app.id, with_content=False)
        assert [m.payload for m in contentless] == [{}] * 5
        with_content = await listed(c, app.id, with_content=True)
        assert [m.payload["n"] for m in with_content] == [4, 3, 2, 1, 0]

        assert ids(await listed(c, app.id, channel="eu")) == [late[0].id, early[0].id]
        assert ids(await listed(c, app.id, channel="us")) == [late[0].id, early[1].id]
        assert ids(await listed(c, app.id, tag="billing")) == [late[0].id, early[0].id]
        assert ids(await listed(c, app.id, tag="signup")) == [early[2].id]
        assert await listed(c, app.id, tag="nothing") == []
        assert ids(await listed(c, app.id, event_types=["user.created"])) == [
            late[1].id,
            early[2].id,
        ]
        both = await listed(c, app.id, event_types=["invoice.paid", "invoice.voided"])
        assert ids(both) == [late[0].id, early[1].id, early[0].id]

        cut = early[-1].timestamp + (late[0].timestamp - early[-1].timestamp) / 2
        assert ids(await listed(c, app.id, before=cut)) == list(reversed(ids(early)))
        assert ids(await listed(c, app.id, after=cut)) == list(reversed(ids(late)))
        assert await listed(c, app.id, after=late[-1].timestamp + timedelta(seconds=5)) == []
        assert ids(await listed(c, app.id, after=cut, tag="billing")) == [late[0].id]

    drive(scenario)


# --- attempts, destinations and resending --------------------------------------------


def test_attempts_destinations_and_resend(drive: Drive, receiver: Receiver) -> None:
    receiver.respond("/fails", [], then=500)

    async def scenario(c: AnySvix) -> None:
        app = await call(c.application.create(ApplicationIn(name="Acme")))
        secret = new_secret()
        good_in = EndpointIn(
            url=receiver.url("/ok"),
            description="good",
            secret=secret,
            headers={"X-Team": "billing"},
        )
        good = await call(c.endpoint.create(app.id, good_in))
        bad = await call(c.endpoint.create(app.id, EndpointIn(url=receiver.url("/fails"))))
        msg = await call(
            c.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"id": 1}))
        )

        (delivered,) = receiver.wait_for(1, "/ok")
        assert header(delivered, "webhook-id") == msg.id
        assert header(delivered, "X-Team") == "billing", "the endpoint's headers are sent"
        signed = standardwebhooks.Webhook(secret).verify(delivered.body, delivered.headers)
        assert signed == {"id": 1}, "signed with the caller-given secret"

        async def settled() -> dict[str, Any]:
            page = await call(c.message_attempt.list_attempted_destinations(app.id, msg.id))
            by_id = {item.id: item for item in page.data}
            assert set(by_id) == {good.id, bad.id}
            assert by_id[good.id].status == MessageStatus.SUCCESS
            assert by_id[bad.id].status == MessageStatus.FAIL
            return by_id

        destinations = await eventually(settled)
        assert destinations[good.id].status_text == MessageStatusText.SUCCESS
        assert destinations[good.id].url == receiver.url("/ok")
        assert destinations[good.id].description == "good"
        assert destinations[bad.id].status_text == MessageStatusText.FAIL
        assert destinations[bad.id].next_attempt is None

        by_endpoint = await call(c.message_attempt.list_by_endpoint(app.id, good.id))
        (attempt,) = by_endpoint.data
        assert (attempt.msg_id, attempt.endpoint_id, attempt.url) == (
            msg.id,
            good.id,
            receiver.url("/ok"),
        )
        assert attempt.id.startswith("atmpt_")
        assert (
            attempt.status == MessageStatus.SUCCESS
            and attempt.status_text == MessageStatusText.SUCCESS
        )
        assert attempt.response_status_code == 200 and attempt.response == "receiver answered 200"
        assert attempt.trigger_type == MessageAttemptTriggerType.SCHEDULED
        assert attempt.response_duration_ms >= 0

        failures = len(receiver.received("/fails"))
        assert failures >= 2, "a failing endpoint is retried"
        bad_attempts = (await call(c.message_attempt.list_by_endpoint(app.id, bad.id))).data
        assert len(bad_attempts) == failures
        assert {a.response_status_code for a in bad_attempts} == {500}
        assert {a.status for a in bad_attempts} == {MessageStatus.FAIL}
        only_failed = await call(
            c.message_attempt.list_by_endpoint(
                app.id, good.id, MessageAttemptListByEndpointOptions(status=MessageStatus.FAIL)
            )
        )
        assert only_failed.data == []

        async def by_msg(**options: Any) -> list[Any]:
            page = await call(
                c.message_attempt.list_by_msg(
                    app.id, msg.id, MessageAttemptListByMsgOptions(**options)
                )
            )
            return list(page.data)

        assert len(await by_msg()) == 1 + failures
        assert ids(await by_msg(status=MessageStatus.SUCCESS)) == [attempt.id]
        assert ids(await by_msg(status=MessageStatus.SUCCESS, endpoint_id=good.id)) == [attempt.id]
        assert await by_msg(status=MessageStatus.SUCCESS, endpoint_id=bad.id) == []
        assert sorted(ids(await by_msg(status=MessageStatus.FAIL, endpoint_id=bad.id))) == sorted(
            ids(bad_attempts)
        )
        assert ids(await by_msg(endpoint_id=good.id)) == [attempt.id]

        fetched = await call(c.message_attempt.get(app.id, msg.id, attempt.id))
        assert fetched.model_dump() == attempt.model_dump()
        await fails(lambda: c.message_attempt.get(app.id, msg.id, "atmpt_missing"), 404)

        await call(c.message_attempt.resend(app.id, msg.id, good.id))
        assert last_status(c) == 202
        first, again = receiver.wait_for(2, "/ok")
        assert header(again, "webhook-id") == header(first, "webhook-id") == msg.id
        assert again.body == first.body

        async def manual_attempt() -> Any:
            listed = (await call(c.message_attempt.list_by_endpoint(app.id, good.id))).data
            assert len(listed) == 2
            newest, oldest = listed
            assert oldest.id == attempt.id
            assert newest.trigger_type == MessageAttemptTriggerType.MANUAL
            assert newest.status == MessageStatus.SUCCESS and newest.msg_id == msg.id
            return newest

        manual = await eventually(manual_attempt)
        again_fetched = await call(c.message_attempt.get(app.id, msg.id, manual.id))
        assert again_fetched.trigger_type == MessageAttemptTriggerType.MANUAL
        successes = await by_msg(status=MessageStatus.SUCCESS, endpoint_id=good.id)
        assert ids(successes) == [manual.id, attempt.id]

    drive(scenario)


def test_attempts_with_msg_never_carry_the_payload(drive: Drive, receiver: Receiver) -> None:
    async def scenario(c: AnySvix) -> None:
        app = await call(c.application.create(ApplicationIn(name="Acme")))
        endpoint = await call(c.endpoint.create(app.id, EndpointIn(url=receiver.url("/ok"))))
        msg = await call(
            c.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"id": 1}))
        )
        receiver.wait_for(1, "/ok")

        async def attempts_with_msg() -> list[Any]:
            options = MessageAttemptListByEndpointOptions(with_msg=True)
            page = await call(c.message_attempt.list_by_endpoint(app.id, endpoint.id, options))
            assert len(page.data) == 1
            return list(page.data)

        (attempt,) = await eventually(attempts_with_msg)
        assert attempt.msg is not None, "with_msg=true attaches the message"
        assert (attempt.msg.id, attempt.msg.event_type) == (msg.id, "invoice.paid")
        # The SDK documents that payloads are never included here, whatever the flags.
        assert attempt.msg.payload == {}

    drive(scenario)
