"""What an attempt's record says happened, in words the endpoint's owner can act on.

Customers read these in their attempt logs and in operational webhooks, so each
says what the endpoint (or the network) did, not which exception was raised.
"""

from __future__ import annotations

import errno
import http
import ssl

from tidings.delivery.egress import ProxyRefused
from tidings.delivery.exchange import NoAnswer, ProtocolError
from tidings.delivery.guard import HostNotFound
from tidings.domain.errors import DestinationBlocked

# Statuses that ask the sender to slow down (see domain.outcomes).
_SLOW_DOWN = frozenset({429, 502, 504})

_CONNECT_ERRORS = {
    errno.ECONNREFUSED: "the connection was refused (nothing is listening there)",
    errno.EHOSTUNREACH: "the host is unreachable",
    errno.ENETUNREACH: "the network is unreachable",
    errno.ETIMEDOUT: "the connection timed out",
}


def status_error(status: int, location: str | None) -> str | None:
    """Why an answer with this status is not a success; None for a 2xx."""
    if 200 <= status < 300:
        return None
    answered = f"the endpoint answered {status}{_phrase(status)}"
    if status == 304:
        return f"{answered}, which is not a success"
    if 300 <= status < 400:
        where = location or "(no location given)"
        return f"{answered}, a redirect to {where}; redirects are not followed"
    if status == 410:
        return f"{answered}: it no longer accepts these messages"
    if status in _SLOW_DOWN:
        return f"{answered}: it asked to slow down"
    if 400 <= status < 500:
        return f"{answered}: it refused the request"
    if 500 <= status < 600:
        return f"{answered}: an error on its side"
    return f"{answered}, which is not a success"


def failure_error(exc: BaseException, host: str, port: int, deadline: float) -> str:
    """Why an attempt got no usable answer."""
    if isinstance(exc, TimeoutError):
        return f"no complete response within the {deadline:g} s deadline"
    if isinstance(exc, DestinationBlocked | ProtocolError | NoAnswer | ProxyRefused | HostNotFound):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {host} could not be verified: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake with {host} failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionResetError):
        return "the endpoint reset the connection"
    if isinstance(exc, OSError):
        reason = _CONNECT_ERRORS.get(exc.errno or 0) or exc.strerror or str(exc)
        return f"could not connect to {host}:{port}: {reason}"
    return f"cannot send: {exc}"


def sends_note(count: int) -> str | None:
    if count < 2:
        return None
    return (
        "sent twice: a kept-alive connection closed before any answer, so the request "
        "went again on a new one; the endpoint may have received both (same webhook-id)"
    )


def joined(*notes: str | None) -> str | None:
    kept = [note for note in notes if note]
    return "; ".join(kept) if kept else None


def _phrase(status: int) -> str:
    try:
        return " " + http.HTTPStatus(status).phrase
    except ValueError:
        return ""
