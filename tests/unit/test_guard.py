"""Tests for the SSRF guard (tidings.delivery.guard).

Resolver tests use the real system resolver: the point is to prove that what it
makes of odd spellings is what gets checked. All hosts used resolve locally
(numeric forms, /etc/hosts), so no network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re

import pytest
from aiohttp import web

from tidings.delivery.guard import AddressPolicy, GuardedResolver
from tidings.delivery.http1 import Http1Client, target_of
from tidings.domain.errors import DestinationBlocked

DEFAULT = AddressPolicy()


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


# --- AddressPolicy.reason_blocked -------------------------------------------

BLOCKED = [
    ("127.0.0.1", "loopback address"),
    ("127.255.0.9", "loopback address"),
    ("::1", "loopback address"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback address"),
    ("10.0.0.1", "private address"),
    ("172.16.0.1", "private address"),
    ("192.168.1.1", "private address"),
    ("::ffff:10.0.0.1", "IPv4-mapped private address"),
    ("169.254.1.1", "link-local address"),
    ("fe80::1", "link-local address"),
    ("fe80::1%eth0", "link-local address"),
    ("169.254.169.254", "cloud metadata address"),
    ("fd00:ec2::254", "cloud metadata address"),
    ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata address"),
    ("100.64.0.1", "shared address space (CGNAT)"),
    ("100.127.255.254", "shared address space (CGNAT)"),
    ("0.0.0.0", "unspecified address"),
    ("0.1.2.3", "'this network' address (0.0.0.0/8)"),
    ("::", "unspecified address"),
    ("224.0.0.1", "multicast address"),
    ("ff02::1", "multicast address"),
    ("ff0e::1", "multicast address"),
    ("240.0.0.1", "reserved address"),
    ("255.255.255.255", "broadcast address"),
    ("fc00::1", "unique-local address"),
    ("fd12:3456::1", "unique-local address"),
    ("fec0::1", "site-local address"),
    ("192.0.2.1", "non-global address"),
    ("2001:db8::1", "non-global address"),
    ("::7f00:1", "IPv4-compatible loopback address"),
    ("64:ff9b::7f00:1", "NAT64-embedded loopback address"),
    ("64:ff9b::a9fe:a9fe", "NAT64-embedded cloud metadata address"),
    ("64:ff9b:1::a00:1", "NAT64-embedded private address"),
    ("2002:7f00:1::", "6to4-embedded loopback address"),
    ("2002:a00:1::", "6to4-embedded private address"),
    # Teredo: server 10.0.0.1; client is stored inverted (~127.0.0.1).
    ("2001:0:a00:1::80ff:fffe", "Teredo-embedded private address"),
    ("2001:0:808:808::80ff:fffe", "Teredo-embedded loopback address"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "64:ff9b::808:808",  # NAT64 of a public IPv4
    "2002:808:808::",  # 6to4 of a public IPv4
    "::ffff:8.8.8.8",
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_default_policy_blocks_with_reason(address: str, reason: str) -> None:
    assert DEFAULT.reason_blocked(ip(address)) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_default_policy_allows_public_addresses(address: str) -> None:
    assert DEFAULT.reason_blocked(ip(address)) is None
    DEFAULT.check(ip(address))


def test_allowed_networks_open_only_that_range() -> None:
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),))
    assert policy.reason_blocked(ip("10.1.2.3")) is None
    assert policy.reason_blocked(ip("192.168.1.1")) == "private address"
    assert policy.reason_blocked(ip("127.0.0.1")) == "loopback address"


def test_allowed_networks_apply_to_embedded_ipv4() -> None:
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),))
    assert policy.reason_blocked(ip("::ffff:10.1.2.3")) is None
    assert policy.reason_blocked(ip("2002:a01:203::")) is None


def test_allowed_networks_match_raw_ipv6() -> None:
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("fd00:1234::/32"),))
    assert policy.reason_blocked(ip("fd00:1234::5")) is None
    assert policy.reason_blocked(ip("fd00:9999::5")) == "unique-local address"


def test_allow_loopback_allows_loopback_only() -> None:
    policy = AddressPolicy(allow_loopback=True)
    for address in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
        assert policy.reason_blocked(ip(address)) is None, address
    assert policy.reason_blocked(ip("169.254.169.254")) == "cloud metadata address"
    assert policy.reason_blocked(ip("10.0.0.1")) == "private address"


def test_check_raises_with_human_message() -> None:
    with pytest.raises(DestinationBlocked) as excinfo:
        DEFAULT.check(ip("127.0.0.1"), host="localhost")
    assert str(excinfo.value) == (
        "destination 127.0.0.1 (resolved from localhost) is a loopback address; "
        "blocked by the SSRF policy"
    )
    assert excinfo.value.code == "destination_blocked"


def test_check_message_omits_origin_for_literals_and_uses_an() -> None:
    with pytest.raises(DestinationBlocked, match=r"^destination :: is an unspecified address;"):
        DEFAULT.check(ip("::"), host="::")


# --- AddressPolicy.from_setting ----------------------------------------------


def test_from_setting_parses_and_ignores_blanks() -> None:
    policy = AddressPolicy.from_setting(" 10.0.0.0/8, ,fd00::/8,,192.168.5.7 ", True)
    assert policy.allowed_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("192.168.5.7/32"),
    )
    assert policy.allow_loopback is True


def test_from_setting_empty_is_default() -> None:
    assert AddressPolicy.from_setting("", False) == AddressPolicy()
    assert AddressPolicy.from_setting(" , ", False) == AddressPolicy()


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "not-a-net", "10.0.0.1/8"])
def test_from_setting_rejects_bad_cidr_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match=f"'{bad}'"):
        AddressPolicy.from_setting(f"192.168.0.0/16,{bad}", False)


# --- GuardedResolver with the real system resolver ---------------------------


def resolve(policy: AddressPolicy, host: str) -> list[str]:
    """Resolve as the delivery client does before it connects."""
    return [str(a) for a in asyncio.run(GuardedResolver(policy).resolve(host, 443))]


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "0177.0.0.1", "localhost"])
def test_numeric_spellings_and_localhost_are_blocked(host: str) -> None:
    with pytest.raises(DestinationBlocked) as excinfo:
        resolve(DEFAULT, host)
    message = str(excinfo.value)
    assert f"(resolved from {host})" in message
    assert "loopback address" in message


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("::ffff:127.0.0.1", "IPv4-mapped loopback address"),
        ("::1", "loopback address"),
        ("169.254.169.254", "cloud metadata address"),
        ("fd00:ec2::254", "cloud metadata address"),
        ("100.64.0.1", "shared address space (CGNAT)"),
        ("10.0.0.1", "private address"),
        ("192.168.1.1", "private address"),
        ("172.16.0.1", "private address"),
        ("0.0.0.0", "unspecified address"),
        ("224.0.0.1", "multicast address"),
        ("64:ff9b::7f00:1", "NAT64-embedded loopback address"),
        ("2002:7f00:1::", "6to4-embedded loopback address"),
        ("2002:a00:1::", "6to4-embedded private address"),
    ],
)
def test_resolver_blocks_forbidden_literals(host: str, reason: str) -> None:
    with pytest.raises(DestinationBlocked, match=re.escape(reason)):
        resolve(DEFAULT, host)


@pytest.mark.parametrize("host", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_resolver_passes_public_addresses_through(host: str) -> None:
    assert resolve(DEFAULT, host) == [host]


def test_resolver_respects_allowed_networks() -> None:
    policy = AddressPolicy.from_setting("10.0.0.0/8", False)
    assert resolve(policy, "10.1.2.3") == ["10.1.2.3"]
    with pytest.raises(DestinationBlocked, match="private address"):
        resolve(policy, "192.168.1.1")


def test_resolver_allow_loopback() -> None:
    policy = AddressPolicy(allow_loopback=True)
    assert "127.0.0.1" in resolve(policy, "localhost")
    assert resolve(policy, "2130706433") == ["127.0.0.1"]
    assert resolve(policy, "::1") == ["::1"]
    with pytest.raises(DestinationBlocked, match="cloud metadata"):
        resolve(policy, "169.254.169.254")


# --- GuardedResolver semantics with a scripted lookup -------------------------


class ScriptedLookup:
    """Returns fixed answers, as a rebinding attacker's DNS server would."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers


def test_one_bad_answer_rejects_the_whole_destination() -> None:
    lookup = ScriptedLookup("8.8.8.8", "10.0.0.1", "1.1.1.1")
    resolver = GuardedResolver(DEFAULT, lookup)
    with pytest.raises(DestinationBlocked, match=r"10\.0\.0\.1 \(resolved from evil\.test\)"):
        asyncio.run(resolver.resolve("evil.test", 443))
    assert lookup.calls == ["evil.test"]


def test_good_answers_returned_unchanged_after_one_lookup() -> None:
    lookup = ScriptedLookup("8.8.8.8", "2606:4700:4700::1111")
    answers = asyncio.run(GuardedResolver(DEFAULT, lookup).resolve("good.test", 443))
    assert [str(a) for a in answers] == ["8.8.8.8", "2606:4700:4700::1111"]
    assert lookup.calls == ["good.test"]


def test_unparseable_answer_fails_closed() -> None:
    resolver = GuardedResolver(DEFAULT, ScriptedLookup("not-an-ip"))
    with pytest.raises(DestinationBlocked, match="unparseable"):
        asyncio.run(resolver.resolve("odd.test", 443))


def test_an_unknown_name_is_a_connection_failure_not_a_block() -> None:
    with pytest.raises(OSError, match=r"cannot resolve no-such-host\.invalid"):
        resolve(DEFAULT, "no-such-host.invalid")


# --- End to end through the delivery client ----------------------------------


def test_end_to_end_against_a_real_loopback_server() -> None:
    asyncio.run(_end_to_end())


async def _end_to_end() -> None:
    hits: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        hits.append(request.host)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        await _exercise(port, hits)
    finally:
        await runner.cleanup()


async def post(policy: AddressPolicy, url: str) -> int:
    client = Http1Client(GuardedResolver(policy))
    try:
        return (await client.post(target_of(url), [], b"{}", 1024)).status
    finally:
        client.close()


async def _exercise(port: int, hits: list[str]) -> None:
    dev = AddressPolicy(allow_loopback=True)
    # Every spelling goes through the same lookup and check: names, numeric
    # spellings and canonical literals alike.
    for host in ("localhost", "2130706433", "127.1", "127.0.0.1", "[::ffff:127.0.0.1]"):
        with pytest.raises(DestinationBlocked):
            await post(DEFAULT, f"http://{host}:{port}/")
    assert hits == []
    assert await post(dev, f"http://localhost:{port}/") == 200
    assert await post(dev, f"http://2130706433:{port}/") == 200
    assert len(hits) == 2


def test_ipv4_compatible_forms_are_named_for_the_address_inside() -> None:
    # ::2 is the IPv4-compatible form of 0.0.0.2; only :: and ::1 are not such forms.
    assert DEFAULT.reason_blocked(ip("::2")) == "IPv4-compatible 'this network' address (0.0.0.0/8)"
    assert DEFAULT.reason_blocked(ip("::1")) == "loopback address"


def test_reserved_ipv6_is_named() -> None:
    assert DEFAULT.reason_blocked(ip("4000::1")) == "reserved address"


def test_an_answer_with_a_zone_id_is_checked_without_it() -> None:
    resolver = GuardedResolver(DEFAULT, ScriptedLookup("fe80::1%eth0"))
    with pytest.raises(DestinationBlocked, match="link-local address"):
        asyncio.run(resolver.resolve("zoned.test", 443))


def test_an_unparseable_answer_names_the_host_and_the_policy() -> None:
    resolver = GuardedResolver(DEFAULT, ScriptedLookup("not-an-ip"))
    with pytest.raises(DestinationBlocked) as refused:
        asyncio.run(resolver.resolve("odd.test", 443))
    assert str(refused.value) == (
        "destination odd.test resolved to unparseable address 'not-an-ip'; "
        "blocked by the SSRF policy"
    )


def test_the_lookup_is_asked_for_the_destination_port() -> None:
    ports: list[int] = []

    async def lookup(host: str, port: int) -> list[str]:
        ports.append(port)
        return ["8.8.8.8"]

    asyncio.run(GuardedResolver(DEFAULT, lookup).resolve("good.test", 8443))
    assert ports == [8443]
