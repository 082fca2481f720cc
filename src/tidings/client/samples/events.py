"""Sample events for senders with no payload format of their own (Standard Webhooks,
Svix, and the generic, HMAC, Basic and API-key sources): the Standard Webhooks shape,
`{"type", "timestamp", "data"}`, with the event name in `type`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tidings.client.samples.base import Payload, iso


def _envelope(event_type: str, data: Callable[[int], dict[str, Any]]) -> Payload:
    def build(now: int) -> dict[str, Any]:
        return {"type": event_type, "timestamp": iso(now), "data": data(now)}

    return build


def _invoice(now: int) -> dict[str, Any]:
    return {
        "id": "inv_2fGq8sK1mVx0",
        "number": "ACME-2024-0117",
        "status": "paid",
        "customer": {"id": "cus_7Hd2kQ", "name": "Acme Inc.", "email": "billing@acme.example"},
        "currency": "EUR",
        "amount_due": 4200,
        "amount_paid": 4200,
        "lines": [
            {"description": "Pro plan (monthly)", "quantity": 1, "unit_amount": 3900},
            {"description": "Extra seat", "quantity": 1, "unit_amount": 300},
        ],
        "period": {"start": iso(now - 30 * 86400), "end": iso(now)},
        "paid_at": iso(now),
        "payment_method": {"type": "card", "brand": "visa", "last4": "4242"},
    }


def _customer(now: int) -> dict[str, Any]:
    return {
        "id": "cus_7Hd2kQ",
        "name": "Acme Inc.",
        "email": "billing@acme.example",
        "phone": "+14155550100",
        "address": {
            "line1": "1 Market St",
            "city": "San Francisco",
            "postal_code": "94105",
            "country": "US",
        },
        "plan": "pro",
        "seats": 12,
        "created_at": iso(now),
        "tax_ids": [{"type": "eu_vat", "value": "DE123456789"}],
        "preferences": {
            "locale": "en-US",
            "timezone": "America/Los_Angeles",
            "invoice_delivery": "email",
        },
        "owner": {"id": "usr_31xQz", "name": "Dana Scully", "email": "dana@acme.example"},
        "metadata": {"crm_id": "0015e00000XyZabC", "signup_source": "website"},
    }


def _order(now: int) -> dict[str, Any]:
    return {
        "id": "ord_9Ck3LmP0",
        "status": "shipped",
        "customer_id": "cus_7Hd2kQ",
        "items": [
            {"sku": "TSHIRT-BLK-M", "name": "T-shirt, black, M", "quantity": 2, "price": 1900},
            {"sku": "MUG-WHT", "name": "Mug, white", "quantity": 1, "price": 1200},
        ],
        "total": 5000,
        "currency": "USD",
        "shipment": {
            "carrier": "UPS",
            "tracking_number": "1Z999AA10123456784",
            "shipped_at": iso(now),
            "estimated_delivery": iso(now + 3 * 86400),
        },
        "shipping_address": {
            "line1": "742 Evergreen Terrace",
            "city": "Springfield",
            "postal_code": "49007",
            "country": "US",
        },
    }


EVENTS: dict[str, Payload] = {
    "invoice.paid": _envelope("invoice.paid", _invoice),
    "customer.created": _envelope("customer.created", _customer),
    "order.shipped": _envelope("order.shipped", _order),
}
DEFAULT = "invoice.paid"
