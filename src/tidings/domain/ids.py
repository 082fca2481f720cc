"""Prefixed, time-sortable identifiers and secret tokens.

An id is `<prefix>_` followed by 22 base62 characters encoding 48 bits of
milliseconds and 80 random bits, so ids sort by creation time in logs and
cannot be confused across kinds (`msg_` is never an `ep_`).
"""

from __future__ import annotations

import os
import random
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WIDTH = 22

APP = "app"
ENDPOINT = "ep"
MESSAGE = "msg"
ATTEMPT = "atmpt"
TOKEN = "tid"  # a token's secret
TOKEN_ID = "tok"  # a token's public id, for listing and revoking
SOURCE = "src"


# Two digits per division: half the steps of one digit at a time (ids are made
# for every message and attempt).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_PAIR_BASE = 62 * 62


def _base62(number: int) -> str:
    pairs = []
    while number:
        number, pair = divmod(number, _PAIR_BASE)
        pairs.append(_PAIRS[pair])
    return "".join(reversed(pairs)).lstrip("0").rjust(_WIDTH, "0")


# Ids need to be unique, not secret (tokens and signing secrets use `secrets`), so
# a seeded generator does: it is ten times cheaper than the system's, and the
# worker makes an id per attempt. Reseeded in a forked child, so parent and child
# never share a sequence.
_random = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def new_id(prefix: str) -> str:
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | _random.getrandbits(80)
    return f"{prefix}_{_base62(value)}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 1 + _WIDTH


def new_token() -> str:
    """An API bearer token. Only its SHA-256 is ever stored."""
    return f"{TOKEN}_{secrets.token_urlsafe(32)}"
