"""What every provider's samples share: the options a configurable source is set up
with, the request being built, and the description of one provider.

A provider is a few sample payloads (each built fresh for the time of sending, so
ids that senders keep stable across retries are new on every send), the headers it
sends beside them, and its `sign`, which adds the signature headers exactly as the
provider computes them.
"""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# The config keys of the configurable sources (hmac, api-key, basic-auth), as flags.
OPTION_KEYS = ("header", "prefix", "algorithm", "encoding", "id_header")


class SampleError(ValueError):
    """Input that no sample can be built from: an unknown type or event, a missing or
    unusable secret, options the source type does not take."""


@dataclass(frozen=True)
class Options:
    """How a configurable source is set up; each field is the source config key of
    the same name, so a sample signed with the source's config verifies there."""

    header: str | None = None
    prefix: str = ""
    algorithm: str = "sha256"
    encoding: str = "hex"
    id_header: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Options:
        """The options in a source config, ignoring its secrets."""
        unknown = sorted(set(config) - {*OPTION_KEYS, "secrets", "secret"})
        if unknown:
            raise SampleError(f"unknown options {unknown}; allowed: {', '.join(OPTION_KEYS)}")
        values = {key: config[key] for key in OPTION_KEYS if config.get(key) is not None}
        if not all(isinstance(value, str) for value in values.values()):
            raise SampleError("every option must be a string")
        return cls(**values)


@dataclass(frozen=True)
class Draft:
    """A sample request before signing: where it goes, its exact body, the headers
    the provider sends beside the signature, and the Unix time it is signed at."""

    url: str
    body: bytes
    headers: dict[str, str]
    now: int
    options: Options = field(default_factory=Options)


@dataclass(frozen=True)
class SignedRequest:
    url: str
    headers: dict[str, str]
    body: bytes


# A sample payload, built for the Unix time it is sent at.
Payload = Callable[[int], dict[str, Any]]
# The headers a provider sends with an event, other than its signature.
EventHeaders = Callable[[str, int, Options], dict[str, str]]
# Signature headers for a draft, given the secret.
Signer = Callable[[Draft, str], dict[str, str]]


@dataclass(frozen=True)
class Provider:
    """One source type's samples. `events` maps event names to payloads; `headers`
    gives the provider's other headers for an event name (the event name goes where
    the provider puts it: a header, or the payload's own `type` field)."""

    events: Mapping[str, Payload]
    default: str
    headers: EventHeaders
    sign: Signer
    content_type: str = JSON
    needs_secret: bool = True
    # The Options fields this type takes (its source config keys besides secrets).
    options: tuple[str, ...] = ()


def new_uuid() -> str:
    return str(uuid.uuid4())


def iso(now: int) -> str:
    """`2024-05-01T12:00:00Z`, the form most providers write times in."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON, non-ASCII kept as UTF-8, as most providers send it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def mac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, algorithm).digest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
