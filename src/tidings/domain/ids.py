"""Prefixed, time-sortable identifiers and secret tokens.

An id is `<prefix>_` followed by 22 base62 characters encoding 48 bits of
milliseconds and 80 random bits, so ids sort by creation time in logs and
cannot be confused across kinds (`msg_` is never an `ep_`).
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WIDTH = 22

APP = "app"
ENDPOINT = "ep"
MESSAGE = "msg"
ATTEMPT = "atmpt"
TOKEN = "tid"
SOURCE = "src"

# Every application whose uid starts so is Tidings' own (operational webhooks, a
# source's events), never a customer's: it is not listed and cannot be addressed.
INTERNAL_UID_PREFIX = "__tidings_"


def _base62(number: int) -> str:
    chars = []
    while number:
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars)).rjust(_WIDTH, "0")


def new_id(prefix: str) -> str:
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | secrets.randbits(80)
    return f"{prefix}_{_base62(value)}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 1 + _WIDTH


def new_token() -> str:
    """An API bearer token. Only its SHA-256 is ever stored."""
    return f"{TOKEN}_{secrets.token_urlsafe(32)}"
