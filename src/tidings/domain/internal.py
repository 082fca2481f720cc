"""Tidings' own objects inside the customer API's space, and how to tell them apart.

A source's events are messages of an application of its own, and the operational
webhooks are messages of another; both carry a uid no customer may take. A source's
actions are endpoints whose URL is `action://<source uid>/<action name>`. Whatever
encodes or reads these names is here, so that no other module tests strings; and
a claimed delivery's kind is decided here, once, when it is claimed.
"""

from __future__ import annotations

import functools
from enum import Enum

# Every application whose uid starts so is Tidings' own, never a customer's: it is
# not listed and cannot be addressed through the API.
INTERNAL_UID_PREFIX = "__tidings_"
SOURCE_APP_UID_PREFIX = INTERNAL_UID_PREFIX + "source__"
OPERATIONAL_APP_UID = INTERNAL_UID_PREFIX + "operational__"
ACTION_SCHEME = "action://"


class DeliveryKind(Enum):
    """What an attempt of a delivery is, which decides who performs it."""

    HTTP = "http"  # a POST to a customer's endpoint
    FORWARD = "forward"  # a POST of a source's event, with its original content type
    ACTION = "action"  # a command or Python function of the worker's config file


def is_internal_uid(uid: str | None) -> bool:
    return uid is not None and uid.startswith(INTERNAL_UID_PREFIX)


def source_app_uid(source_id: str) -> str:
    """The uid of the application that holds a source's events."""
    return SOURCE_APP_UID_PREFIX + source_id


def source_of_app(app_uid: str | None) -> str | None:
    """The source id whose events the application holds, or None for any other."""
    if app_uid is None or not app_uid.startswith(SOURCE_APP_UID_PREFIX):
        return None
    return app_uid[len(SOURCE_APP_UID_PREFIX) :]


def action_url(source_uid: str, name: str) -> str:
    return f"{ACTION_SCHEME}{source_uid}/{name}"


def parse_action_url(url: str) -> tuple[str, str] | None:
    """(source uid, action name) of an action endpoint's URL, else None."""
    return _parse_action_url(url) if url.startswith(ACTION_SCHEME) else None


@functools.lru_cache(maxsize=1024)
def _parse_action_url(url: str) -> tuple[str, str] | None:
    # Asked for every claimed action delivery, and a config file declares few actions;
    # other URLs (there may be many) never reach the cache.
    source_uid, _, name = url[len(ACTION_SCHEME) :].partition("/")
    return (source_uid, name) if source_uid and name else None


def delivery_kind(app_uid: str | None, url: str) -> DeliveryKind:
    """The kind of a delivery of an application's message to an endpoint's URL."""
    if source_of_app(app_uid) is None:
        return DeliveryKind.HTTP
    return DeliveryKind.ACTION if parse_action_url(url) else DeliveryKind.FORWARD
