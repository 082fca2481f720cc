"""What the API's routes use, built once per process by `create_app`: a typed
container in place of Starlette's untyped `app.state`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # the modules that read the container are among these
    from tidings.api.app_cache import ApplicationCache
    from tidings.api.auth import Authenticator
    from tidings.api.message_gate import MessageGate
    from tidings.config import Settings
    from tidings.delivery.operational import OperationalWebhooks
    from tidings.ingest.receive import Inbox
    from tidings.storage.ports import Store


@dataclass
class Services:
    store: Store
    settings: Settings
    authenticator: Authenticator
    # Wakes an in-process worker when deliveries were queued.
    on_new_deliveries: Callable[[], None]
    # Per-application admission for message creation (and the in-process 409).
    message_gate: MessageGate
    applications: ApplicationCache
    operational: OperationalWebhooks
    inbox: Inbox
    # Set when the server starts stopping: long polls answer at once.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Each documented path's pattern and the methods it takes, for a 405's `Allow`
    # (read from the spec on first use: errors.py).
    allowed_methods: list[tuple[re.Pattern[str], str]] | None = None


def services_of(app: Any) -> Services:
    """The services of the API application `app` (a `request.app`)."""
    return cast(Services, app.services)
