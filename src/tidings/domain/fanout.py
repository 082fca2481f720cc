"""Fan-out: which of an application's endpoints receive a message."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.domain.filters import endpoint_matches
from tidings.domain.models import Endpoint, Message


def select_endpoints(endpoints: Sequence[Endpoint], message: Message) -> list[Endpoint]:
    """The endpoints that get one delivery each; runs inside the message's transaction."""
    return [
        endpoint
        for endpoint in endpoints
        if endpoint_matches(
            endpoint.disabled,
            endpoint.filter_types,
            endpoint.channels,
            message.event_type,
            message.channels,
        )
    ]
