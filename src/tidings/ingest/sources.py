"""Sources: what a source is configured with, and the internal application it owns.

The SDK sends provider configs as `{"secret": "..."}`; the verifiers take
`{"secrets": [...]}` (several while a secret is being rotated). `verifier_config`
maps the one onto the other, and `check_config` builds the verifier once so a bad
config is refused when it is written, never when a request arrives.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.internal import source_app_uid
from tidings.domain.models import Application, Source
from tidings.ingest.verify import SOURCE_TYPES, Verifier, build_verifier

# A rotated-out ingest URL keeps working this long (as Svix documents), so senders
# can be switched over without losing events.
PREVIOUS_TOKEN_GRACE_MS = 48 * 3600 * 1000
TOKEN_BYTES = 24
INGEST_PATH = "/ingest/in"
# Config key (beside the verifier's) naming original headers a forward passes on.
FORWARD_HEADERS = "forwardHeaders"
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Forwards are signed anew; the original's own framing and signature headers are
# the receiver's business only if it asks for them by name, and these never pass.
_NEVER_FORWARDED = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
    }
)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def verifier_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The verifier's config for what the API was given: a single `secret` (the SDK's
    shape) joins the `secrets` list, first, so it is the one in use."""
    if not isinstance(config, Mapping):
        raise ValueError("config must be an object")
    mapped = dict(config)
    single = mapped.pop("secret", None)
    if single is not None:
        listed = mapped.get("secrets") or []
        if not isinstance(listed, list):
            raise ValueError("'secrets' must be a list of strings")
        mapped["secrets"] = [single, *(s for s in listed if s != single)]
    return mapped


def check_config(source_type: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The stored config for `config`; ValueError naming the problem if it is unusable."""
    if source_type not in SOURCE_TYPES:
        raise ValueError(f"unknown source type {source_type!r}; allowed: {', '.join(SOURCE_TYPES)}")
    mapped = verifier_config(config)
    if FORWARD_HEADERS in mapped:
        mapped[FORWARD_HEADERS] = _checked_header_names(mapped[FORWARD_HEADERS])
    build_verifier(source_type, _verifier_part(mapped))
    return mapped


def verifier_of(source: Source) -> Verifier:
    return build_verifier(source.type, _verifier_part(source.config))


def forward_headers(source: Source) -> tuple[str, ...]:
    """Original headers (lower-cased) that forwards of this source's events carry."""
    return tuple(source.config.get(FORWARD_HEADERS) or ())


def _verifier_part(config: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key != FORWARD_HEADERS}


def _checked_header_names(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError(f"'{FORWARD_HEADERS}' must be a list of header names")
    names = [name.lower() for name in value]
    for name in names:
        if not _HEADER_NAME.match(name):
            raise ValueError(f"'{FORWARD_HEADERS}': {name!r} is not a header name")
        if name in _NEVER_FORWARDED:
            raise ValueError(f"'{FORWARD_HEADERS}': {name!r} is set by Tidings itself")
    return names


def new_source(name: str, source_type: str, config: dict[str, Any]) -> tuple[Source, Application]:
    """A source and its internal application, ready to be stored together."""
    now = now_ms()
    source = Source(
        id=ids.new_id(ids.SOURCE),
        name=name,
        type=source_type,
        token=new_token(),
        config=config,
        created_at=now,
        updated_at=now,
    )
    app = Application(
        id=ids.new_id(ids.APP),
        name=f"Tidings source {source.id}",
        uid=source_app_uid(source.id),
        created_at=now,
        updated_at=now,
    )
    return source, app


def rotate_token(source: Source) -> Source:
    now = now_ms()
    source.previous_token = source.token
    source.previous_token_expires_at = now + PREVIOUS_TOKEN_GRACE_MS
    source.token = new_token()
    source.updated_at = now
    return source


def ingest_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}{INGEST_PATH}/{token}"
