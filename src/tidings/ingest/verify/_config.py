"""Reading a source's stored config into typed verifier arguments, with clear errors.

Config arrives as JSON from the API or a file, so everything is checked here once,
when the source is built, and never per request. Unknown keys are errors: a typo
such as "secret" for "secrets" must not silently leave a source unverified.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


def check_keys(config: Mapping[str, Any], allowed: Collection[str], source_type: str) -> None:
    if not isinstance(config, Mapping):
        raise ValueError(f"{source_type}: config must be an object")
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        expected = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"{source_type}: unknown config keys {unknown}; allowed: {expected}")


def secrets_of(config: Mapping[str, Any], source_type: str) -> tuple[str, ...]:
    """The "secrets" list: one or more non-empty strings, several while rotating."""
    value = config.get("secrets")
    # A bare string is a list of characters to Python: refuse it explicitly.
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{source_type}: 'secrets' must be a non-empty list of strings")
    return check_secrets(value, source_type)


def check_secrets(values: Collection[object], source_type: str) -> tuple[str, ...]:
    if not values:
        raise ValueError(f"{source_type}: at least one secret is required")
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{source_type}: every secret must be a non-empty string")
    return tuple(str(value) for value in values)


def text_option(
    config: Mapping[str, Any],
    key: str,
    source_type: str,
    default: str | None = None,
    choices: Collection[str] | None = None,
) -> str | None:
    value = config.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{source_type}: '{key}' must be a string")
    if choices is not None and value not in choices:
        raise ValueError(f"{source_type}: '{key}' must be one of {sorted(choices)}, got {value!r}")
    return value


def required_text(config: Mapping[str, Any], key: str, source_type: str) -> str:
    value = text_option(config, key, source_type)
    if not value or not value.strip():
        raise ValueError(f"{source_type}: '{key}' is required")
    return value


def header_name(value: str, key: str, source_type: str) -> str:
    """A header name must be an HTTP token, or no request could ever carry it."""
    allowed = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")
    if not value or not set(value.lower()) <= allowed:
        raise ValueError(f"{source_type}: '{key}' is not a valid header name: {value!r}")
    return value


# Headers that carry a sender's delivery id when the scheme itself names none.
COMMON_ID_HEADERS = ("webhook-id", "svix-id", "Idempotency-Key")


def id_headers(id_header: str | None, source_type: str) -> tuple[str, ...]:
    """Where to read the delivery id: the configured header, else the common ones."""
    if id_header is None:
        return COMMON_ID_HEADERS
    return (header_name(id_header, "id_header", source_type),)
