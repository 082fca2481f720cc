"""The traffic every system under test sends: realistic event payloads and endpoint secrets.

Message `seq` goes to endpoint `seq % ENDPOINTS` (fan-out 1). Each payload starts
with `{"bench":{"seq":N,"sent_at":T}` so the receiver can read the send time with a
byte search instead of parsing JSON; the rest is a nested invoice event of 1-2 KB.
The same seed gives the same messages to the raw client, Celery and Tidings.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import time
from typing import Any

import orjson

ENDPOINTS = 100
EVENT_TYPE = "invoice.paid"
# Distinct event bodies generated up front; message `seq` reuses body `seq % VARIANTS`
# (its `bench` prefix still makes every message's bytes unique).
VARIANTS = 1000
SENT_AT = b'"sent_at":'
_PRODUCTS = ("Seat licence", "API calls (1k)", "Storage (GB-month)", "Support plan", "SMS")
_CITIES = ("Lisbon", "Berlin", "Austin", "Osaka", "Lagos", "Quito", "Perth", "Oslo")


def host(index: int) -> str:
    """Endpoint `index` (0-99) lives on its own loopback address, 127.0.0.2 to 127.0.0.101."""
    return f"127.0.0.{index + 2}"


def endpoint_url(index: int, port: int) -> str:
    return f"http://{host(index)}:{port}/hook/{index}"


def endpoint_secret(index: int) -> str:
    """A deterministic `whsec_` secret, so the receiver and Celery know every endpoint's key."""
    digest = hashlib.sha256(b"tidings-bench-endpoint-%d" % index).digest()[:24]
    return "whsec_" + base64.b64encode(digest).decode()


@functools.cache
def endpoint_key(index: int) -> bytes:
    return base64.b64decode(endpoint_secret(index).removeprefix("whsec_"))


def _ident(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_{rng.getrandbits(96):024x}"


def _line_item(rng: random.Random) -> dict[str, Any]:
    quantity = rng.randint(1, 40)
    unit = rng.choice((199, 499, 1299, 4900, 9900))
    return {
        "id": _ident(rng, "il"),
        "description": rng.choice(_PRODUCTS),
        "quantity": quantity,
        "amount": quantity * unit,
        "currency": "usd",
        "price": {"id": _ident(rng, "price"), "unit_amount": unit, "product": _ident(rng, "prod")},
        "period": {"start": 1_700_000_000 + rng.randint(0, 10**6), "end": 1_702_592_000},
    }


def _customer(rng: random.Random) -> dict[str, Any]:
    number = rng.randint(1, 10**6)
    return {
        "id": _ident(rng, "cus"),
        "name": f"Customer {number}",
        "email": f"billing+{number}@example.com",
        "address": {
            "line1": f"{rng.randint(1, 999)} Market Street",
            "city": rng.choice(_CITIES),
            "postal_code": f"{rng.randint(10000, 99999)}",
            "country": rng.choice(("US", "DE", "PT", "JP", "NG", "EC", "AU", "NO")),
        },
        "tax_exempt": rng.random() < 0.1,
    }


def event_body(rng: random.Random) -> dict[str, Any]:
    """One `invoice.paid` event, shaped like a payment provider's, without the bench prefix."""
    lines = [_line_item(rng) for _ in range(rng.randint(2, 5))]
    total = sum(line["amount"] for line in lines)
    return {
        "id": _ident(rng, "evt"),
        "type": EVENT_TYPE,
        "created": 1_700_000_000 + rng.randint(0, 10**7),
        "livemode": False,
        "data": {
            "object": {
                "id": _ident(rng, "in"),
                "object": "invoice",
                "status": "paid",
                "currency": "usd",
                "amount_due": total,
                "amount_paid": total,
                "customer": _customer(rng),
                "lines": {"object": "list", "data": lines, "has_more": False},
                "metadata": {"order_id": _ident(rng, "ord"), "plan": rng.choice(("pro", "team"))},
            }
        },
    }


@functools.cache
def variants(seed: int = 1) -> tuple[bytes, ...]:
    """Serialised event bodies without their opening brace, to follow the bench prefix."""
    rng = random.Random(seed)
    return tuple(orjson.dumps(event_body(rng))[1:] for _ in range(VARIANTS))


def payload(seq: int, sent_at: float | None = None) -> bytes:
    """The exact payload bytes of message `seq`, stamped with `sent_at` (now by default)."""
    stamp = time.time() if sent_at is None else sent_at
    return b'{"bench":{"seq":%d,"sent_at":%r},%s' % (seq, stamp, variants()[seq % VARIANTS])


def message_request(seq: int) -> bytes:
    """The body of `POST /api/v1/app/{app}/msg` for message `seq`, stamped now."""
    return b'{"eventType":"%s","payload":%s}' % (EVENT_TYPE.encode(), payload(seq))


def sent_at(body: bytes) -> float | None:
    """The send time stamped into a payload, found without parsing the JSON."""
    start = body.find(SENT_AT)
    if start < 0:
        return None
    start += len(SENT_AT)
    end = body.find(b"}", start)
    try:
        return float(body[start:end])
    except ValueError:
        return None
