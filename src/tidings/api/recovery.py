"""Recovering an endpoint's failed or missed messages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from fastapi import APIRouter, Depends, Request

from tidings.api.base import ApiModel, InputModel, timestamp
from tidings.api.deps import app_id, store_of
from tidings.api.endpoints import endpoint_of
from tidings.api.services import services_of
from tidings.domain import ids
from tidings.domain.clock import from_datetime, now_ms
from tidings.domain.errors import InvalidInput
from tidings.domain.models import Endpoint

router = APIRouter(
    prefix="/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    tags=["endpoint"],
    dependencies=[Depends(app_id)],
)


class TaskStatus(StrEnum):
    running = "running"
    finished = "finished"
    failed = "failed"


class TaskType(StrEnum):
    recover = "endpoint.recover"
    replay = "endpoint.replay"


class RecoverIn(InputModel):
    since: datetime
    until: datetime | None = None


class TaskOut(ApiModel):
    id: str
    status: TaskStatus
    task: TaskType
    updated_at: datetime
    # How many deliveries were queued again (not part of Svix's model; extra fields
    # are ignored by the SDK).
    queued: int


def _window(body: RecoverIn) -> tuple[int, int | None]:
    since = from_datetime(body.since)
    until = from_datetime(body.until) if body.until else None
    if until is not None and until <= since:
        raise InvalidInput("until must be later than since", field="until")
    return since, until


def _task(kind: TaskType, queued: int) -> TaskOut:
    # The work is one transaction, already committed when we answer: it is finished.
    return TaskOut(
        id=ids.new_id("qtask"),
        status=TaskStatus.finished,
        task=kind,
        updated_at=timestamp(now_ms()),
        queued=queued,
    )


@router.post("/recover", status_code=202, response_model=TaskOut)
async def recover(
    request: Request, body: RecoverIn, endpoint: Endpoint = Depends(endpoint_of)
) -> TaskOut:
    """Send again every failed delivery to this endpoint in the window."""
    since, until = _window(body)
    queued = await store_of(request).recover(endpoint, since, until)
    services_of(request.app).on_new_deliveries()
    return _task(TaskType.recover, queued)


@router.post("/replay-missing", status_code=202, response_model=TaskOut)
async def replay_missing(
    request: Request, body: RecoverIn, endpoint: Endpoint = Depends(endpoint_of)
) -> TaskOut:
    """Send the window's messages this endpoint matches but never received."""
    since, until = _window(body)
    queued = await store_of(request).replay_missing(endpoint, since, until)
    services_of(request.app).on_new_deliveries()
    return _task(TaskType.replay, queued)
