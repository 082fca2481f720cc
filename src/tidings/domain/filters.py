"""Which endpoints a message is for."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def endpoint_matches(
    disabled: bool,
    filter_types: Sequence[str] | None,
    endpoint_channels: Sequence[str] | None,
    event_type: str,
    message_channels: Iterable[str] | None,
) -> bool:
    """An enabled endpoint matches when its type filter is empty or names the event
    type, and its channel filter is empty or shares a channel with the message."""
    if disabled:
        return False
    if filter_types and event_type not in filter_types:
        return False
    if endpoint_channels:
        return bool(set(endpoint_channels).intersection(message_channels or ()))
    return True
