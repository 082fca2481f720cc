"""Stripe: the event name in the payload's `type`, a fresh `evt_` id (Stripe's dedup
key) in its `id`, and `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">`
keyed with the whole `whsec_…` string, not its decoded bytes."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from tidings.client.samples.base import Draft, Options, Payload, Provider, mac


def _id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(18).replace("-", "A").replace("_", "b")


def _event(event_type: str, data: Callable[[int], dict[str, Any]]) -> Payload:
    def build(now: int) -> dict[str, Any]:
        return {
            "id": _id("evt_"),
            "object": "event",
            "api_version": "2024-06-20",
            "created": now,
            "data": {"object": data(now)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": _id("req_"), "idempotency_key": _id("")},
            "type": event_type,
        }

    return build


def _payment_intent(now: int) -> dict[str, Any]:
    return {
        "id": "pi_3PqT9yLkdIwHu7ix0xMgN2Qs",
        "object": "payment_intent",
        "amount": 2000,
        "amount_received": 2000,
        "currency": "usd",
        "customer": "cus_QhtfvTd0dCXp9B",
        "description": "Pro plan, monthly",
        "latest_charge": "ch_3PqT9yLkdIwHu7ix0n1xGqTc",
        "payment_method": "pm_1PqT9xLkdIwHu7ixl7rG2yKo",
        "payment_method_types": ["card"],
        "receipt_email": "jenny.rosen@example.com",
        "status": "succeeded",
        "created": now,
        "metadata": {"order_id": "6735"},
    }


def _invoice(now: int) -> dict[str, Any]:
    return {
        "id": "in_1PqTA2LkdIwHu7ixvR8gKx1B",
        "object": "invoice",
        "account_country": "US",
        "amount_due": 4200,
        "amount_paid": 4200,
        "amount_remaining": 0,
        "billing_reason": "subscription_cycle",
        "currency": "usd",
        "customer": "cus_QhtfvTd0dCXp9B",
        "customer_email": "jenny.rosen@example.com",
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1Pq/test_YWNjdF8xUHE",
        "number": "D2F1E8A7-0004",
        "paid": True,
        "status": "paid",
        "subscription": "sub_1PqT9zLkdIwHu7ixq0d5l3Wm",
        "period_start": now - 30 * 86400,
        "period_end": now,
        "created": now,
    }


def _checkout_session(now: int) -> dict[str, Any]:
    return {
        "id": "cs_test_a1Yb3mQ2sWvZ8kLp4nRt6uXc9dFg0hJe",
        "object": "checkout.session",
        "amount_subtotal": 1500,
        "amount_total": 1500,
        "currency": "eur",
        "customer": "cus_QhtfvTd0dCXp9B",
        "customer_details": {"email": "jenny.rosen@example.com", "name": "Jenny Rosen"},
        "mode": "payment",
        "payment_intent": "pi_3PqT9yLkdIwHu7ix0xMgN2Qs",
        "payment_status": "paid",
        "status": "complete",
        "success_url": "https://example.com/success",
        "created": now,
        "expires_at": now + 86400,
    }


def headers(event: str, now: int, options: Options) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Cache-Control": "no-cache",
    }


def sign(draft: Draft, secret: str) -> dict[str, str]:
    timestamp = str(draft.now)
    digest = mac(secret.encode(), timestamp.encode() + b"." + draft.body).hex()
    return {"Stripe-Signature": f"t={timestamp},v1={digest}"}


PROVIDER = Provider(
    events={
        "payment_intent.succeeded": _event("payment_intent.succeeded", _payment_intent),
        "invoice.paid": _event("invoice.paid", _invoice),
        "checkout.session.completed": _event("checkout.session.completed", _checkout_session),
    },
    default="payment_intent.succeeded",
    headers=headers,
    sign=sign,
)
