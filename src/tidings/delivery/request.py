"""One HTTP attempt: sign, POST the exact stored bytes, read a capped response.

The whole attempt (connect, send, headers, body) runs under one deadline, so a
server that trickles a byte a second is cut off, and at most RESPONSE_CAP bytes
of the decompressed body are kept, so a huge or bomb-compressed body cannot
exhaust memory.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass

import aiohttp
import yarl

from tidings import __version__
from tidings.delivery.guard import AddressPolicy
from tidings.domain.errors import DestinationBlocked
from tidings.domain.models import ClaimedDelivery
from tidings.signing.standard import secret_key, signature_header

RESPONSE_CAP = 64 * 1024
USER_AGENT = f"Tidings/{__version__}"
# Custom endpoint headers may not override what makes a delivery verifiable.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        "transfer-encoding",
        "connection",
    }
)


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int
    response: str
    duration_ms: int
    error: str | None = None
    retry_after: float | None = None


def build_headers(delivery: ClaimedDelivery, timestamp: int) -> dict[str, str]:
    keys = [secret_key(secret) for secret in delivery.secrets]
    signature = signature_header(keys, delivery.msg_id, timestamp, delivery.payload)
    headers = {
        name: value
        for name, value in delivery.headers.items()
        if name.lower() not in RESERVED_HEADERS
    }
    headers.update(
        {
            "content-type": delivery.content_type,
            "user-agent": USER_AGENT,
            "webhook-id": delivery.msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
            "svix-id": delivery.msg_id,
            "svix-timestamp": str(timestamp),
            "svix-signature": signature,
        }
    )
    return headers


async def send(
    session: aiohttp.ClientSession,
    delivery: ClaimedDelivery,
    deadline: float,
    policy: AddressPolicy,
) -> Outcome:
    started = time.monotonic()
    headers = build_headers(delivery, int(time.time()))
    try:
        # aiohttp connects to IP-literal hosts without asking the resolver, so
        # those are vetted here; names are vetted by GuardedResolver on connect.
        policy.check_url_host(yarl.URL(delivery.url).raw_host or "")
        async with asyncio.timeout(deadline):
            return await _post(session, delivery, headers, started)
    except TimeoutError:
        return _failure(started, f"no complete response within the {deadline:g}s deadline")
    except DestinationBlocked as exc:
        return _failure(started, str(exc))
    except aiohttp.ClientConnectorError as exc:
        blocked = _blocked_cause(exc)
        return _failure(started, str(blocked) if blocked else f"connection failed: {exc}")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return _failure(started, f"{type(exc).__name__}: {exc}")


async def _post(
    session: aiohttp.ClientSession,
    delivery: ClaimedDelivery,
    headers: dict[str, str],
    started: float,
) -> Outcome:
    async with session.post(
        delivery.url, data=delivery.payload, headers=headers, allow_redirects=False
    ) as response:
        body = await _read_capped(response)
        status = response.status
        error = None
        if 300 <= status < 400:
            # Redirects are never followed: the target was not vetted by the guard.
            error = f"redirect to {response.headers.get('Location', '?')} not followed"
        return Outcome(
            succeeded=200 <= status < 300,
            status_code=status,
            response=body,
            duration_ms=_elapsed_ms(started),
            error=error,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )


async def _read_capped(response: aiohttp.ClientResponse) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_CAP:
            break
    return b"".join(chunks)[:RESPONSE_CAP].decode("utf-8", errors="replace")


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now; it may be delta-seconds or an HTTP date."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(seconds, 0.0)


def _blocked_cause(exc: BaseException) -> DestinationBlocked | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DestinationBlocked):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _failure(started: float, error: str) -> Outcome:
    return Outcome(
        succeeded=False, status_code=0, response="", duration_ms=_elapsed_ms(started), error=error
    )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
