"""Egress as companies run it: a forward proxy (CONNECT for https, absolute-form
for http), a private CA on top of the system's, and a client certificate; the
SSRF guard vets every destination before the proxy hears of it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import uvloop
from svix.api import ApplicationIn, EndpointIn, MessageIn

from tests.conftest import sdk
from tests.harness import ServerProcess
from tests.integration.client.cases import ok
from tests.integration.client.forward_proxy import ForwardProxy, forward_proxy
from tests.integration.client.hostile import HostileServer, hostile
from tests.integration.client.pki import PrivateCA
from tests.integration.client.support import DEADLINE, delivery, in_thread, loopback_client
from tests.waiting import eventually
from tidings.config import parse_value
from tidings.delivery import request
from tidings.delivery.egress import Egress
from tidings.delivery.guard import AddressPolicy
from tidings.domain.outcomes import Outcome

T = TypeVar("T")
LOOPS = ["asyncio", "uvloop"]


def run_on(loop: str, scenario: Callable[[], Awaitable[T]]) -> T:
    """The worker runs on uvloop, whose TLS-in-TLS differs from asyncio's: try both."""
    if loop == "uvloop":
        return uvloop.run(scenario())  # type: ignore[no-any-return]
    return asyncio.run(scenario())  # type: ignore[arg-type]


def header(server: HostileServer, index: int, name: bytes) -> bytes:
    for line in server.requests[index].head.split(b"\r\n"):
        if line.lower().startswith(name + b":"):
            return line.split(b":", 1)[1].strip()
    return b""


async def deliver(egress: Egress, *urls: str) -> list[Outcome]:
    client = loopback_client(egress)
    try:
        return [await request.send(client, delivery(url), DEADLINE) for url in urls]
    finally:
        client.close()


@pytest.fixture
def ca(tmp_path: Path) -> PrivateCA:
    return PrivateCA(tmp_path / "ca")


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("proxy_tls", [False, True], ids=["http-proxy", "https-proxy"])
def test_https_goes_through_a_tunnel_to_the_vetted_address(
    ca: PrivateCA, loop: str, proxy_tls: bool
) -> None:
    async def scenario() -> tuple[list[Outcome], ForwardProxy, HostileServer]:
        proxy_context = ca.server_context("localhost") if proxy_tls else None
        async with (
            hostile([ok(b"secure")], tls=ca.server_context("localhost")) as server,
            forward_proxy(tls=proxy_context) as proxy,
        ):
            scheme = "https" if proxy_tls else "http"
            egress = Egress(ca_file=str(ca.cert), proxy_url=f"{scheme}://localhost:{proxy.port}")
            url = f"https://localhost:{server.port}/hook"
            outcomes = await deliver(egress, url, url)
        return outcomes, proxy, server

    outcomes, proxy, server = run_on(loop, scenario)
    assert [(o.succeeded, o.response) for o in outcomes] == [
        (True, "secure"),
        (True, "second answer"),
    ]
    # The proxy was asked for the address Tidings vetted, never for the name,
    # while TLS and the Host header still carry the name.
    assert proxy.asked == [f"CONNECT 127.0.0.1:{server.port}"]
    assert header(server, 0, b"host") == b"localhost:%d" % server.port
    assert [seen.connection for seen in server.requests] == [1, 1]  # the tunnel is kept alive


def test_http_goes_in_absolute_form_to_the_vetted_address(ca: PrivateCA) -> None:
    async def scenario() -> tuple[list[Outcome], ForwardProxy, HostileServer]:
        async with hostile([ok(b"plain")]) as server, forward_proxy() as proxy:
            egress = Egress(proxy_url=f"http://127.0.0.1:{proxy.port}")
            url = f"http://localhost:{server.port}/hook?x=1"
            outcomes = await deliver(egress, url, url)
        return outcomes, proxy, server

    outcomes, proxy, server = asyncio.run(scenario())
    assert [o.succeeded for o in outcomes] == [True, True]
    target = f"http://127.0.0.1:{server.port}/hook?x=1"
    assert proxy.asked == [f"POST {target}", f"POST {target}"]
    assert proxy.connections == 1  # kept alive to the proxy
    assert server.requests[0].head.startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert header(server, 0, b"host") == b"localhost:%d" % server.port


def test_proxy_credentials_are_sent_and_a_refusal_says_so(ca: PrivateCA) -> None:
    async def scenario() -> tuple[list[Outcome], ForwardProxy]:
        async with (
            hostile([ok()], tls=ca.server_context("localhost")) as server,
            forward_proxy(credentials=("ops", "p@ss word")) as proxy,
        ):
            url = f"https://localhost:{server.port}/"
            right = Egress(str(ca.cert), f"http://ops:p%40ss%20word@127.0.0.1:{proxy.port}")
            wrong = Egress(str(ca.cert), f"http://ops:guess@127.0.0.1:{proxy.port}")
            outcomes = await deliver(right, url) + await deliver(wrong, url)
        return outcomes, proxy

    (good, refused), proxy = asyncio.run(scenario())
    assert good.succeeded
    assert (refused.succeeded, refused.status_code) == (False, 0)
    assert refused.error == (
        "the egress proxy refused the tunnel: HTTP/1.1 407 Proxy Authentication Required"
    )
    assert len(proxy.asked) == 1  # the refused one never got past the credentials


def test_a_blocked_destination_never_reaches_the_proxy() -> None:
    async def scenario() -> tuple[list[Outcome], ForwardProxy]:
        async with forward_proxy() as proxy:
            client = loopback_client(
                Egress(proxy_url=f"http://127.0.0.1:{proxy.port}"), policy=AddressPolicy()
            )
            urls = ["http://127.0.0.1:9/", "https://10.1.2.3/", "http://169.254.169.254/latest"]
            try:
                outcomes = [await request.send(client, delivery(u), DEADLINE) for u in urls]
            finally:
                client.close()
        return outcomes, proxy

    outcomes, proxy = asyncio.run(scenario())
    assert all("blocked by the SSRF policy" in (o.error or "") for o in outcomes)
    assert (proxy.connections, proxy.asked) == (0, [])


def test_a_private_ca_is_trusted_on_top_of_the_system_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, system = (
        PrivateCA(tmp_path / "private", "Private CA"),
        PrivateCA(tmp_path / "sys", "System CA"),
    )
    # OpenSSL takes the system bundle from SSL_CERT_FILE when it is set.
    monkeypatch.setenv("SSL_CERT_FILE", str(system.cert))

    async def scenario(egress: Egress) -> list[bool]:
        async with (
            hostile([ok()], tls=private.server_context("localhost")) as by_private,
            hostile([ok()], tls=system.server_context("localhost")) as by_system,
        ):
            urls = [f"https://localhost:{s.port}/" for s in (by_private, by_system)]
            return [o.succeeded for o in await deliver(egress, *urls)]

    assert asyncio.run(scenario(Egress(ca_file=str(private.cert)))) == [True, True]
    assert asyncio.run(scenario(Egress())) == [False, True]


def test_a_client_certificate_is_presented_to_servers_that_ask(ca: PrivateCA) -> None:
    client_identity = ca.issue("tidings-sender", client=True)

    async def scenario(egress: Egress) -> Outcome:
        async with hostile([ok()], tls=ca.server_context("localhost", require_client=True)) as s:
            return (await deliver(egress, f"https://localhost:{s.port}/"))[0]

    with_identity = Egress(str(ca.cert), "", str(client_identity.cert), str(client_identity.key))
    assert asyncio.run(scenario(with_identity)).succeeded
    without = asyncio.run(scenario(Egress(str(ca.cert))))
    assert not without.succeeded and without.error


def test_egress_settings_are_checked_when_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TIDINGS_CA_FILE"):
        parse_value("ca_file", str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="TIDINGS_PROXY_URL"):
        parse_value("proxy_url", "socks5://proxy:1080")
    assert parse_value("proxy_url", "http://u:p@proxy:3128") == "http://u:p@proxy:3128"


def test_the_worker_delivers_through_the_configured_proxy_and_private_ca(
    tmp_path: Path, ca: PrivateCA
) -> None:
    @contextlib.asynccontextmanager
    async def receiver_and_proxy() -> AsyncIterator[tuple[HostileServer, ForwardProxy]]:
        async with (
            hostile([ok(b"through")], tls=ca.server_context("localhost")) as server,
            forward_proxy() as proxy,
        ):
            yield server, proxy

    with in_thread(receiver_and_proxy) as (receiver, proxy):
        server = ServerProcess(
            tmp_path,
            proxy_url=f"http://127.0.0.1:{proxy.port}",
            ca_file=str(ca.cert),
            retry_schedule="0",
        ).start()
        client = sdk(server)
        app = client.application.create(ApplicationIn(name="egress")).id
        good = client.endpoint.create(app, EndpointIn(url=f"https://localhost:{receiver.port}/"))
        blocked = client.endpoint.create(app, EndpointIn(url="http://10.9.9.9/internal"))
        msg = client.message.create(app, MessageIn(event_type="a", payload={"k": 1})).id
        attempts = eventually(
            lambda: server.get_json(f"/api/v1/app/{app}/attempt/msg/{msg}")["data"],
            lambda found: len(found) == 2,
        )
        client._httpx_client.close()
        server.stop()
    by_endpoint = {attempt["endpointId"]: attempt for attempt in attempts}
    assert (by_endpoint[good.id]["status"], by_endpoint[good.id]["response"]) == (0, "through")
    assert "blocked by the SSRF policy" in by_endpoint[blocked.id]["error"]
    assert proxy.asked == [f"CONNECT 127.0.0.1:{receiver.port}"]
