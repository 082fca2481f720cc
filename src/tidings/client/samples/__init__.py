"""Signed sample events of every source type, as each provider sends them.

    request = build("github", "push", url=ingest_url, secret="…")
    # request.headers carry X-GitHub-Event, a fresh X-GitHub-Delivery and
    # X-Hub-Signature-256 over request.body, exactly as GitHub would send them.

Every type Tidings verifies has a few realistic payloads and a `sign` that follows
the provider's own scheme, so a sample verifies with the source's verifier, and with
the provider's library where one exists. Ids the sender keeps stable across retries
(delivery ids, Stripe's and Slack's event ids) are fresh on every build, so each
send is a new event rather than a duplicate. `tidings trigger` sends them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import urlencode

from tidings.client.samples import custom, github, gitlab, shopify, slack, standard, stripe, twilio
from tidings.client.samples import zoom as zoom_samples
from tidings.client.samples.base import (
    FORM,
    OPTION_KEYS,
    Draft,
    Options,
    Provider,
    SampleError,
    SignedRequest,
    encode_json,
)

__all__ = [
    "OPTION_KEYS",
    "PROVIDERS",
    "Draft",
    "Options",
    "Provider",
    "SampleError",
    "SignedRequest",
    "build",
    "default_event",
    "event_names",
    "provider",
]

PROVIDERS: Mapping[str, Provider] = {
    "generic-webhook": custom.GENERIC,
    "github": github.PROVIDER,
    "stripe": stripe.PROVIDER,
    "shopify": shopify.PROVIDER,
    "slack": slack.PROVIDER,
    "svix": standard.SVIX,
    "standard-webhooks": standard.STANDARD,
    "gitlab": gitlab.PROVIDER,
    "twilio": twilio.PROVIDER,
    "hmac": custom.HMAC,
    "basic-auth": custom.BASIC_AUTH,
    "api-key": custom.API_KEY,
    "zoom": zoom_samples.PROVIDER,
}


def provider(source_type: str) -> Provider:
    found = PROVIDERS.get(source_type)
    if found is None:
        raise SampleError(
            f"unknown source type {source_type!r}; choose one of: {', '.join(PROVIDERS)}"
        )
    return found


def event_names(source_type: str) -> tuple[str, ...]:
    return tuple(provider(source_type).events)


def default_event(source_type: str) -> str:
    return provider(source_type).default


def build(
    source_type: str,
    event: str | None = None,
    *,
    url: str,
    secret: str | None,
    options: Options | None = None,
    now: int | None = None,
) -> SignedRequest:
    """A signed sample request of `source_type` (its default event unless `event` is
    given) bound for `url`. Raises SampleError, naming what is allowed, on bad input."""
    chosen = provider(source_type)
    name = event or chosen.default
    payload = chosen.events.get(name)
    if payload is None:
        events = ", ".join(chosen.events)
        raise SampleError(f"{source_type} has no sample event {name!r}; choose one of: {events}")
    options = options or Options()
    _check_options(source_type, chosen, options)
    if chosen.needs_secret and not secret:
        raise SampleError(f"{source_type} needs the source's secret (--secret)")
    now = int(time.time()) if now is None else now
    body = _encode(payload(now), chosen.content_type)
    draft = Draft(url, body, chosen.headers(name, now, options), now, options)
    return SignedRequest(url, {**draft.headers, **chosen.sign(draft, secret or "")}, body)


def _check_options(source_type: str, chosen: Provider, options: Options) -> None:
    defaults = Options()
    given = [
        f.name for f in fields(Options) if getattr(options, f.name) != getattr(defaults, f.name)
    ]
    refused = [name for name in given if name not in chosen.options]
    if refused:
        flags = ", ".join("--" + name.replace("_", "-") for name in refused)
        raise SampleError(f"{source_type} takes no {flags}")


def _encode(payload: Mapping[str, Any], content_type: str) -> bytes:
    if content_type == FORM:
        return urlencode(payload).encode()
    return encode_json(payload)
