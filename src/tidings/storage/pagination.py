"""Opaque list iterators shared by every backend.

An iterator names the key of the item a page continues after, and the direction
to walk. Clients must treat it as opaque; we validate it because it is still
client input.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TypeVar

from tidings.domain.errors import InvalidInput
from tidings.domain.models import Page

T = TypeVar("T")

_FORWARD = "f"
_BACKWARD = "b"


@dataclass(frozen=True)
class Cursor:
    after_key: int | None
    # True walks the list's natural order; False walks back for prev_iterator.
    forward: bool = True


def encode(key: int, forward: bool = True) -> str:
    raw = f"{_FORWARD if forward else _BACKWARD}{key}".encode()
    return "itr_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(iterator: str | None) -> Cursor:
    if not iterator:
        return Cursor(after_key=None)
    try:
        body = iterator.removeprefix("itr_")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        direction, key = raw[0], int(raw[1:])
    except (binascii.Error, ValueError, UnicodeDecodeError, IndexError):
        raise InvalidInput(
            "iterator is not one this server returned", field="iterator", location="query"
        ) from None
    if direction not in (_FORWARD, _BACKWARD):
        raise InvalidInput(
            "iterator is not one this server returned", field="iterator", location="query"
        )
    return Cursor(after_key=key, forward=direction == _FORWARD)


def clamp_limit(limit: int | None, default: int = 50, maximum: int = 250) -> int:
    if limit is None:
        return default
    if limit < 1 or limit > maximum:
        raise InvalidInput(
            f"limit must be between 1 and {maximum}", field="limit", location="query"
        )
    return limit


@dataclass(frozen=True)
class Walk:
    """How to query one page: the key comparison, the SQL order and the limit."""

    cursor: Cursor
    ascending: bool
    limit: int

    @property
    def sql_ascending(self) -> bool:
        return self.ascending == self.cursor.forward

    @property
    def comparison(self) -> str:
        return ">" if self.sql_ascending else "<"

    @property
    def order(self) -> str:
        return "ASC" if self.sql_ascending else "DESC"

    @property
    def fetch(self) -> int:
        # One extra row tells whether another page follows.
        return self.limit + 1


def walk(iterator: str | None, ascending: bool, limit: int | None) -> Walk:
    return Walk(cursor=decode(iterator), ascending=ascending, limit=clamp_limit(limit))


def build_page(walk: Walk, rows: list[tuple[int, T]]) -> Page[T]:
    """Turn `(key, item)` rows fetched in SQL order into a page in natural order."""
    has_more = len(rows) > walk.limit
    rows = rows[: walk.limit]
    if not walk.cursor.forward:
        rows.reverse()
    items = [item for _, item in rows]
    if not rows:
        return Page(
            items=[],
            iterator=None if walk.cursor.after_key is None else encode(walk.cursor.after_key),
            prev_iterator=None,
            done=True,
        )
    done = not has_more if walk.cursor.forward else False
    has_previous = walk.cursor.after_key is not None if walk.cursor.forward else has_more
    return Page(
        items=items,
        iterator=encode(rows[-1][0]),
        prev_iterator=encode(rows[0][0], forward=False) if has_previous else None,
        done=done,
    )
