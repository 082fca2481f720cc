"""SSRF guard for webhook delivery.

Endpoint URLs are chosen by customers, so without a guard a customer could aim
our worker at our own network (databases, admin ports, the cloud metadata
service). The guard sits in the one place that sees the final addresses: the
lookup the delivery client makes before it opens a socket.

Why the lookup and not a URL check: a hostname can resolve to anything, and
the system resolver also turns numeric spellings (``2130706433``, ``0x7f.1``,
``127.1``, ``0177.0.0.1``) into 127.0.0.1, so only the resolved answers can be
trusted. `GuardedResolver` looks the host up once (IP literals included, so every
spelling goes through the same check), refuses the destination if any answer is
forbidden, and the client connects to exactly the vetted addresses, so there is
no second lookup an attacker could rebind. TLS is still verified against the
URL's hostname (`server_hostname`), so pinning the address weakens nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tidings.domain.errors import DestinationBlocked

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Named explicitly because they are the classic SSRF prize; both also fall in
# ranges that are blocked anyway, but the specific reason helps operators.
_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)

# Python's ipaddress calls 100.64.0.0/10 neither private nor global, so the
# generic checks would only say "non-global"; name it explicitly.
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_RFC1918 = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
# NAT64 gateways translate these to the IPv4 address in the low 32 bits.
# 64:ff9b:1::/48 may legally use other RFC 6052 layouts; we only read the /96
# layout, which is what deployed gateways use.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _strip_scope(ip: IPAddress) -> IPAddress:
    """Drop an IPv6 zone id (``fe80::1%eth0``), which would defeat equality checks."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return ipaddress.IPv6Address(int(ip))
    return ip


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """IPv4 addresses that traffic to ``ip`` would actually reach, with a label.

    These IPv6 forms are tunnels or translations to IPv4, so the IPv4 inside
    decides where a packet really ends up.
    """
    if ip.ipv4_mapped is not None:
        return [("IPv4-mapped", ip.ipv4_mapped)]
    if ip.sixtofour is not None:
        return [("6to4-embedded", ip.sixtofour)]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [("Teredo-embedded", server), ("Teredo-embedded", client)]
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in net for net in _NAT64):
        return [("NAT64-embedded", low32)]
    # :: and ::1 are the IPv6 unspecified/loopback addresses, not IPv4-compatible.
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return [("IPv4-compatible", low32)]
    return []


def _ipv4_category(ip: ipaddress.IPv4Address) -> str | None:
    """Name the special-purpose range ``ip`` is in, or None for a public address.

    Multicast must be tested explicitly: Python reports 224.0.0.0/4 as global.
    Order matters, because Python counts 0/8 and 255.255.255.255 as "private".
    """
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "unspecified address"),
        (ip in _THIS_NETWORK, "'this network' address (0.0.0.0/8)"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip in _CGNAT, "shared address space (CGNAT)"),
        (ip.is_multicast, "multicast address"),
        (ip == _BROADCAST, "broadcast address"),
        (ip.is_reserved, "reserved address"),
        (any(ip in net for net in _RFC1918), "private address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def _ipv6_category(ip: ipaddress.IPv6Address) -> str | None:
    """Name the special-purpose range ``ip`` is in, or None for a public address.

    Multicast and the deprecated site-local fec0::/10 must be tested
    explicitly: Python reports both as global.
    """
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip.is_site_local, "site-local address"),
        (ip in _UNIQUE_LOCAL, "unique-local address"),
        (ip.is_multicast, "multicast address"),
        (ip.is_reserved, "reserved address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def _category(ip: IPAddress) -> str | None:
    """Why ``ip`` itself (not unwrapped) is not a public destination, if it isn't."""
    if ip in _METADATA_ADDRESSES:
        return "cloud metadata address"
    reason = _ipv4_category(ip) if isinstance(ip, ipaddress.IPv4Address) else _ipv6_category(ip)
    if reason is None and not ip.is_global:
        # Documentation, benchmarking, discard-only and similar ranges.
        return "non-global address"
    return reason


def _with_article(phrase: str) -> str:
    article = "an" if phrase[0].lower() in "aeiou" else "a"
    return f"{article} {phrase}"


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses webhook delivery may connect to.

    Default: only globally routable addresses. ``allowed_networks`` opens
    specific internal ranges (e.g. an on-prem receiver); ``allow_loopback`` is
    for local development against a receiver on the same machine.
    """

    allowed_networks: tuple[IPNetwork, ...] = ()
    allow_loopback: bool = False

    @classmethod
    def from_setting(cls, subnets: str, allow_loopback: bool) -> AddressPolicy:
        """Build a policy from a comma-separated CIDR setting.

        Host bits must be zero (``10.0.0.1/8`` is refused): in a security
        setting a typo should fail loudly rather than be silently widened.
        """
        networks: list[IPNetwork] = []
        for raw in subnets.split(","):
            text = raw.strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text))
            except ValueError as exc:
                raise ValueError(f"invalid CIDR {text!r} in allowed subnets: {exc}") from exc
        return cls(allowed_networks=tuple(networks), allow_loopback=allow_loopback)

    def reason_blocked(self, ip: IPAddress) -> str | None:
        """Return None if ``ip`` may be contacted, else a short reason.

        IPv6 forms that tunnel or translate to IPv4 are judged by the IPv4
        inside (recursively, with this same policy), because that is where
        the packets end up.
        """
        ip = _strip_scope(ip)
        if self._explicitly_allowed(ip):
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(ip)
            if embedded:
                return self._embedded_reason(embedded)
        return _category(ip)

    def check(self, ip: IPAddress, host: str | None = None) -> None:
        """Raise DestinationBlocked if ``ip`` is forbidden.

        ``host`` is the name ``ip`` was resolved from, only used to make the
        error message point at what the customer actually configured.
        """
        reason = self.reason_blocked(ip)
        if reason is None:
            return
        origin = f" (resolved from {host})" if host and host != str(ip) else ""
        raise DestinationBlocked(
            f"destination {ip}{origin} is {_with_article(reason)}; blocked by the SSRF policy"
        )

    def _explicitly_allowed(self, ip: IPAddress) -> bool:
        # Embedded IPv4 (e.g. ::ffff:127.0.0.1) gets here too, via the
        # recursion in reason_blocked, so both rules also apply to it.
        if any(ip in net for net in self.allowed_networks):
            return True
        return self.allow_loopback and ip.is_loopback

    def _embedded_reason(self, embedded: list[tuple[str, ipaddress.IPv4Address]]) -> str | None:
        for label, inner in embedded:
            reason = self.reason_blocked(inner)
            if reason is not None:
                return f"{label} {reason}"
        return None


class HostNotFound(OSError):
    """The destination's name does not resolve."""


# host, port -> the addresses (as text) the name resolves to.
Lookup = Callable[[str, int], Awaitable[list[str]]]


async def system_lookup(host: str, port: int) -> list[str]:
    """The system resolver's answers, as a socket would get them."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise HostNotFound(f"cannot resolve {host}: {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedResolver:
    """Resolves a destination once and vets every answer.

    If ANY answer is forbidden the whole destination is refused rather than
    filtered: a name that hands out internal addresses at all is misconfigured or
    hostile (rebinding attacks mix a public decoy with internal targets), and
    refusing it makes that visible instead of silently using the remainder.
    """

    def __init__(self, policy: AddressPolicy, lookup: Lookup = system_lookup) -> None:
        self._policy = policy
        self._lookup = lookup

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        answers = [_parse_answer(answer, host) for answer in await self._lookup(host, port)]
        for address in answers:
            self._policy.check(address, host)
        return answers


def _parse_answer(answer: str, host: str) -> IPAddress:
    """Parse a resolver answer; anything unparseable is refused (fail closed)."""
    try:
        return ipaddress.ip_address(answer.partition("%")[0])
    except ValueError as exc:
        raise DestinationBlocked(
            f"destination {host} resolved to unparseable address {answer!r}; "
            "blocked by the SSRF policy"
        ) from exc
