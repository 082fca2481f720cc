"""Checks on customer input that pydantic's types do not express."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from tidings.delivery.request import RESERVED_HEADERS
from tidings.domain.errors import InvalidInput

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
MAX_URL_LENGTH = 8192


def check_url(url: str, field: str = "url") -> str:
    """An absolute http(s) URL with a host. Where it points is checked at connect time."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"url is longer than {MAX_URL_LENGTH} characters", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"url is not valid: {exc}", field=field) from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("url must start with http:// or https://", field=field)
    if not parts.hostname:
        raise InvalidInput("url must name a host", field=field)
    if port == 0:
        raise InvalidInput("url port must be between 1 and 65535", field=field)
    if any(ch.isspace() for ch in url):
        raise InvalidInput("url must not contain whitespace", field=field)
    return url


def check_headers(headers: dict[str, str], field: str = "headers") -> dict[str, str]:
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise InvalidInput(f"header name {name!r} is not a valid HTTP token", field=field)
        if name.lower() in RESERVED_HEADERS:
            raise InvalidInput(
                f"header {name!r} is set by Tidings and cannot be overridden", field=field
            )
        if "\r" in value or "\n" in value or "\0" in value:
            raise InvalidInput(f"header {name!r} has a line break in its value", field=field)
    return headers


def refuse_nulls(body: BaseModel, names: Iterable[str]) -> None:
    """A PATCH may leave these out, but not set them to null: they have no empty state."""
    for name in names:
        if name in body.model_fields_set and getattr(body, name) is None:
            shown = to_camel(name)
            raise InvalidInput(f"{shown} cannot be null", field=shown)


def fits_64_bits(value: Any) -> Any:
    """Free-form JSON kept as JSON: integers beyond 64 bits are refused, since the
    stores' JSON columns cannot hold them exactly (payloads, kept as bytes, can)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**64:
            raise ValueError("integers must fit in 64 bits")
    return value


# What the checks above enforce, said in the OpenAPI schema (documentation only:
# the checks give the clearer errors).
URL_SCHEMA: JsonDict = {"pattern": r"^https?://[^\s]+$", "maxLength": MAX_URL_LENGTH}
SECRET_SCHEMA: JsonDict = {
    "pattern": r"^(whsec_)?[A-Za-z0-9+/]{32,88}={0,2}$",
    "description": "base64 of 24 to 64 bytes, optionally prefixed with whsec_",
}
HEADERS_SCHEMA: JsonDict = {"propertyNames": {"pattern": r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"}}
