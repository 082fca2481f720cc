"""One HTTP attempt: sign, POST the exact stored bytes, read a capped response.

The whole attempt (connect, send, headers, body) runs under one deadline, so a
server that trickles a byte a second is cut off, and at most RESPONSE_CAP bytes
of the decompressed body are kept, so a huge or bomb-compressed body cannot
exhaust memory.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import time

from tidings import __version__
from tidings.delivery import wording
from tidings.delivery.http1 import Http1Client, ProtocolError, Response, Sends, target_of
from tidings.domain.errors import DestinationBlocked
from tidings.domain.models import ClaimedDelivery
from tidings.domain.outcomes import Outcome
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


@functools.lru_cache(maxsize=4096)
def _key(secret: str) -> bytes:
    # Decoding (and checking) a secret costs more than the HMAC of a small body.
    return secret_key(secret)


def build_headers(delivery: ClaimedDelivery, timestamp: int) -> dict[str, str]:
    keys = [_key(secret) for secret in delivery.secrets]
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
    if delivery.traceparent is not None:
        headers["traceparent"] = delivery.traceparent
    return headers


async def send(client: Http1Client, delivery: ClaimedDelivery, deadline: float) -> Outcome:
    started = time.monotonic()
    sends = Sends()
    try:
        target = target_of(delivery.url)
        headers = build_headers(delivery, int(time.time()))
        async with asyncio.timeout(deadline):
            response = await client.post(
                target, headers.items(), delivery.payload, RESPONSE_CAP, delivery.app_key, sends
            )
    except ProtocolError as exc:
        # The status line may have come before the fault: keep what was said.
        return Outcome(
            False,
            exc.status,
            _text(exc.body),
            _elapsed_ms(started),
            str(exc),
            note=wording.sends_note(sends.count),
        )
    except (TimeoutError, OSError, ValueError, DestinationBlocked) as exc:
        host, port = _where(delivery.url)
        error = wording.failure_error(exc, host, port, deadline)
        return Outcome(
            False, 0, "", _elapsed_ms(started), error, note=wording.sends_note(sends.count)
        )
    return _outcome(response, started, sends)


def _outcome(response: Response, started: float, sends: Sends) -> Outcome:
    status = response.status
    return Outcome(
        succeeded=200 <= status < 300,
        status_code=status,
        response=_text(response.body),
        duration_ms=_elapsed_ms(started),
        # Redirects are never followed: the target was not vetted by the guard.
        error=wording.status_error(status, response.location),
        retry_after=_retry_after(response.retry_after),
        note=response.note
        if sends.count < 2
        else wording.joined(response.note, wording.sends_note(sends.count)),
    )


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _where(url: str) -> tuple[str, int]:
    try:
        target = target_of(url)
    except ValueError:
        return url, 0
    return target.host, target.port


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


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
