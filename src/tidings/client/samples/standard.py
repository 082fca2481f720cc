"""Standard Webhooks (`webhook-*` headers) and Svix (the same three as `svix-*`):
a fresh `msg_` id in `{prefix}-id`, `{prefix}-timestamp`, and `{prefix}-signature:
v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the base64-decoded
part of the `whsec_` secret. The event name is the payload's `type`."""

from __future__ import annotations

import secrets
import string

from tidings.client.samples import events
from tidings.client.samples.base import Draft, EventHeaders, Options, Provider, SampleError, Signer
from tidings.signing import standard

_BASE62 = string.ascii_letters + string.digits


def _message_id() -> str:
    return "msg_" + "".join(secrets.choice(_BASE62) for _ in range(27))


def _key(secret: str) -> bytes:
    try:
        return standard.secret_key(secret)
    except standard.InvalidSecret as exc:
        raise SampleError(f"{exc} (a whsec_ secret, as the source was given)") from None


def _headers(prefix: str, user_agent: str) -> EventHeaders:
    def build(event: str, now: int, options: Options) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": user_agent,
            f"{prefix}-id": _message_id(),
            f"{prefix}-timestamp": str(now),
        }

    return build


def _signer(prefix: str) -> Signer:
    def sign(draft: Draft, secret: str) -> dict[str, str]:
        msg_id = draft.headers[f"{prefix}-id"]
        signature = standard.sign_with_key(_key(secret), msg_id, draft.now, draft.body)
        return {f"{prefix}-signature": signature}

    return sign


sign_standard = _signer("webhook")
sign_svix = _signer("svix")

STANDARD = Provider(
    events=events.EVENTS,
    default=events.DEFAULT,
    headers=_headers("webhook", "Standard-Webhooks/1.0"),
    sign=sign_standard,
)
SVIX = Provider(
    events=events.EVENTS,
    default=events.DEFAULT,
    headers=_headers("svix", "Svix-Webhooks/1.24.0"),
    sign=sign_svix,
)
