"""Shared pieces of the API's request and response models.

Field names follow the official `svix` SDK's models: snake_case in Python,
camelCase on the wire.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from tidings.domain.clock import to_datetime
from tidings.domain.models import Page

T = TypeVar("T")
U = TypeVar("U")


# The largest count or rate the API takes: what every database column holds.
MAX_INT = 2**31 - 1


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class InputModel(ApiModel):
    # Unknown fields are rejected, so a misspelt field is a clear 422, not a silent drop.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ListResponse(ApiModel, Generic[T]):
    data: list[T]
    iterator: str | None
    prev_iterator: str | None = None
    done: bool


class Ordering(StrEnum):
    ascending = "ascending"
    descending = "descending"


def page_response(page: Page[U], data: list[T]) -> ListResponse[T]:
    return ListResponse[T](
        data=data, iterator=page.iterator, prev_iterator=page.prev_iterator, done=page.done
    )


def timestamp(millis: int) -> datetime:
    return to_datetime(millis)
