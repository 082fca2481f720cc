"""Operational webhooks: Tidings telling the operator about its own state.

They are ordinary messages of an internal application whose endpoints are the
operational webhook endpoints, so they are signed, retried and logged exactly
like customer webhooks. They are sent after the change they report has been
committed; a crash between the two loses the notice, never the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from tidings.domain import ids
from tidings.domain.clock import now_ms, to_datetime
from tidings.domain.errors import Conflict
from tidings.domain.internal import OPERATIONAL_APP_UID
from tidings.domain.models import Application, AttemptResult, Endpoint, Message, RecordOutcome
from tidings.storage.ports import Store

log = logging.getLogger(__name__)

# A delivery is reported as failing at this failed attempt, and as recovered when it
# succeeds after that, as Svix does.
FAILING_AT_ATTEMPT = 4


def _iso(millis: int) -> str:
    return to_datetime(millis).isoformat().replace("+00:00", "Z")


class OperationalWebhooks:
    def __init__(self, store: Store, notify: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._notify = notify
        self._app: Application | None = None

    async def application(self) -> Application:
        """The internal application that owns operational webhook endpoints."""
        if self._app is None:
            self._app = await self._store.get_application(OPERATIONAL_APP_UID)
        if self._app is None:
            now = now_ms()
            made = Application(
                id=ids.new_id(ids.APP),
                name="Tidings operational webhooks",
                uid=OPERATIONAL_APP_UID,
                created_at=now,
                updated_at=now,
            )
            try:
                self._app = await self._store.create_application(made)
            except Conflict:  # another process made it first
                self._app = await self._store.get_application(OPERATIONAL_APP_UID)
        assert self._app is not None
        return self._app

    async def endpoint_event(self, kind: str, app: Application, endpoint: Endpoint) -> None:
        data: dict[str, Any] = {
            "appId": app.id,
            "appUid": app.uid,
            "endpointId": endpoint.id,
            "endpointUid": endpoint.uid,
        }
        if kind == "endpoint.disabled":
            data["trigger"] = "manual"
        await self._emit(kind, data)

    async def attempts_recorded(
        self, results: Sequence[AttemptResult], outcome: RecordOutcome
    ) -> None:
        own = (await self.application()).key
        for disabled in outcome.disabled:
            if disabled.app_key != own:
                await self._emit("endpoint.disabled", self._disabled_data(results, disabled))
        for result in results:
            kind = _attempt_event(result)
            if kind is not None and result.delivery.app_key != own:
                await self._emit(kind, _attempt_data(result))

    @staticmethod
    def _disabled_data(results: Sequence[AttemptResult], disabled: Any) -> dict[str, Any]:
        delivery = next(
            r.delivery for r in results if r.delivery.endpoint_id == disabled.endpoint_id
        )
        data: dict[str, Any] = {
            "appId": delivery.app_id,
            "appUid": delivery.app_uid,
            "endpointId": disabled.endpoint_id,
            "endpointUid": delivery.endpoint_uid,
            "trigger": "automatic",
            "reason": disabled.reason,
        }
        if disabled.failing_since is not None:
            data["failSince"] = _iso(disabled.failing_since)
        return data

    async def _emit(self, event_type: str, data: dict[str, Any]) -> None:
        app = await self.application()
        now = now_ms()
        body = {"type": event_type, "timestamp": _iso(now), "data": data}
        message = Message(
            id=ids.new_id(ids.MESSAGE),
            app_key=app.key,
            event_type=event_type,
            payload=orjson.dumps(body),
            created_at=now,
        )
        created = await self._store.create_message(app, message, None)
        if created.deliveries:
            self._notify()


def _attempt_event(result: AttemptResult) -> str | None:
    attempt_number = result.delivery.attempts_made + 1
    if result.succeeded:
        return "message.attempt.recovered" if attempt_number > FAILING_AT_ATTEMPT else None
    if result.retry_at is None:
        return "message.attempt.exhausted"
    return "message.attempt.failing" if attempt_number == FAILING_AT_ATTEMPT else None


def _attempt_data(result: AttemptResult) -> dict[str, Any]:
    delivery = result.delivery
    return {
        "appId": delivery.app_id,
        "appUid": delivery.app_uid,
        "msgId": delivery.msg_id,
        "msgEventId": delivery.event_id,
        "endpointId": delivery.endpoint_id,
        "lastAttempt": {
            "id": result.attempt_id,
            "responseStatusCode": result.status_code,
            "timestamp": _iso(result.finished_at),
        },
    }
