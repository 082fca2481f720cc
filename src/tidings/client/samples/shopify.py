"""Shopify: the topic in `X-Shopify-Topic`, a fresh `X-Shopify-Webhook-Id` (its dedup
key), and `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, keyed with the
app's client secret."""

from __future__ import annotations

from typing import Any

from tidings.client.samples.base import Draft, Options, Provider, b64, iso, mac, new_uuid

SHOP = "jaded-pixel.myshopify.com"
_CUSTOMER = {
    "id": 7196544204967,
    "email": "bob.norman@example.com",
    "first_name": "Bob",
    "last_name": "Norman",
    "state": "enabled",
    "verified_email": True,
    "currency": "USD",
}


def _order(now: int) -> dict[str, Any]:
    return {
        "id": 5870321959079,
        "admin_graphql_api_id": "gid://shopify/Order/5870321959079",
        "name": "#1042",
        "order_number": 1042,
        "email": "bob.norman@example.com",
        "created_at": iso(now),
        "currency": "USD",
        "financial_status": "paid",
        "fulfillment_status": None,
        "subtotal_price": "398.00",
        "total_tax": "39.80",
        "total_price": "437.80",
        "customer": _CUSTOMER,
        "line_items": [
            {
                "id": 14562189738151,
                "product_id": 8145267802279,
                "variant_id": 44512367280295,
                "title": "IPod Nano - 8GB",
                "sku": "IPOD2008PINK",
                "quantity": 2,
                "price": "199.00",
                "requires_shipping": True,
            }
        ],
        "shipping_address": {
            "address1": "123 Amoebobacterieae St",
            "city": "Ottawa",
            "province_code": "ON",
            "country_code": "CA",
            "zip": "K2P0V6",
        },
    }


def _product(now: int) -> dict[str, Any]:
    return {
        "id": 8145267802279,
        "admin_graphql_api_id": "gid://shopify/Product/8145267802279",
        "title": "IPod Nano - 8GB",
        "body_html": "<p>It's the small iPod with a big idea: Video.</p>",
        "vendor": "Apple",
        "product_type": "Cult Products",
        "handle": "ipod-nano",
        "status": "active",
        "tags": "Emotive, Flash Memory, MP3, Music",
        "updated_at": iso(now),
        "variants": [
            {
                "id": 44512367280295,
                "title": "Pink",
                "price": "199.00",
                "sku": "IPOD2008PINK",
                "inventory_quantity": 10,
                "inventory_policy": "deny",
                "option1": "Pink",
                "weight": 1.25,
                "weight_unit": "lb",
            },
        ],
        "options": [{"id": 10412617744551, "name": "Color", "position": 1, "values": ["Pink"]}],
        "image": {
            "id": 40203711692967,
            "width": 123,
            "height": 456,
            "src": "https://cdn.shopify.com/s/files/1/0005/4838/0009/products/ipod-nano.png",
        },
        "created_at": iso(now - 86400),
        "published_at": iso(now - 86400),
        "published_scope": "web",
    }


def _customer(now: int) -> dict[str, Any]:
    return {
        **_CUSTOMER,
        "admin_graphql_api_id": "gid://shopify/Customer/7196544204967",
        "created_at": iso(now),
        "updated_at": iso(now),
        "orders_count": 0,
        "total_spent": "0.00",
        "tags": "newsletter",
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
        "note": "Met at the Ottawa pop-up shop",
        "tax_exempt": False,
        "phone": "+16136120707",
        "sms_marketing_consent": {"state": "not_subscribed", "opt_in_level": "single_opt_in"},
        "default_address": {
            "id": 9231489487015,
            "customer_id": 7196544204967,
            "address1": "123 Amoebobacterieae St",
            "city": "Ottawa",
            "province_code": "ON",
            "country_code": "CA",
            "zip": "K2P0V6",
            "default": True,
        },
    }


def headers(event: str, now: int, options: Options) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Shopify-Captain-Hook",
        "X-Shopify-Topic": event,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2024-07",
        "X-Shopify-Webhook-Id": new_uuid(),
        "X-Shopify-Event-Id": new_uuid(),
        "X-Shopify-Triggered-At": iso(now),
    }


def sign(draft: Draft, secret: str) -> dict[str, str]:
    return {"X-Shopify-Hmac-Sha256": b64(mac(secret.encode(), draft.body))}


PROVIDER = Provider(
    events={"orders/create": _order, "products/update": _product, "customers/create": _customer},
    default="orders/create",
    headers=headers,
    sign=sign,
)
