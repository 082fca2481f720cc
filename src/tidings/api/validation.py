"""Checks on customer input that pydantic's types do not express."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

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
            raise InvalidInput(f"header {name!r} is set by Tidings and cannot be overridden",
                               field=field)  # fmt: skip
        if "\r" in value or "\n" in value or "\0" in value:
            raise InvalidInput(f"header {name!r} has a line break in its value", field=field)
    return headers
