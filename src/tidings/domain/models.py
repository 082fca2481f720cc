"""The objects Tidings stores, as plain dataclasses shared by every layer.

Times are integer milliseconds since the epoch. `key` fields are the storage
backends' internal integer keys; only `id` (the prefixed public id) leaves the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tidings.domain.internal import DeliveryKind
from tidings.domain.outcomes import Verdict
from tidings.domain.statuses import DeliveryStatus, TriggerType

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    iterator: str | None
    prev_iterator: str | None
    done: bool


@dataclass
class Application:
    id: str
    name: str
    uid: str | None = None
    throttle_rate: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    key: int = 0


@dataclass
class EventType:
    name: str
    description: str
    archived: bool = False
    deprecated: bool = False
    schemas: dict[str, Any] | None = None
    group_name: str | None = None
    feature_flags: list[str] | None = None
    created_at: int = 0
    updated_at: int = 0


@dataclass
class RetiredSecret:
    """A rotated-out signing secret that keeps signing until `expires_at`."""

    secret: str
    expires_at: int


@dataclass
class Endpoint:
    id: str
    app_key: int
    url: str
    secret: str
    description: str = ""
    uid: str | None = None
    disabled: bool = False
    filter_types: list[str] | None = None
    channels: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    throttle_rate: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    retired_secrets: list[RetiredSecret] = field(default_factory=list)
    # Send each message's W3C `traceparent` to this endpoint (a Tidings extension).
    trace_propagation: bool = False
    # When the current run of failures began; None after any success. Kept in the
    # database so auto-disable survives restarts and spans workers.
    failing_since: int | None = None
    created_at: int = 0
    updated_at: int = 0
    key: int = 0


@dataclass
class Message:
    id: str
    app_key: int
    event_type: str
    payload: bytes
    event_id: str | None = None
    channels: list[str] | None = None
    tags: list[str] | None = None
    created_at: int = 0
    key: int = 0
    # The W3C trace context (`traceparent`) of the request that created it: the
    # span Tidings traced it under, or the sender's own. Written, never read back
    # by the API; the worker's claim carries it to the attempts.
    trace_context: str | None = None


@dataclass
class Attempt:
    id: str
    msg_id: str
    endpoint_id: str
    url: str
    status: DeliveryStatus
    response_status_code: int
    response: str
    response_duration_ms: int
    trigger_type: TriggerType
    created_at: int
    error: str | None = None
    # What else the client noticed: a body kept as received, a request sent twice.
    note: str | None = None
    msg: Message | None = None


@dataclass
class Destination:
    """One endpoint's view of one message: the delivery's state plus the endpoint."""

    endpoint: Endpoint
    status: DeliveryStatus
    next_attempt_at: int | None


@dataclass
class ClaimedDelivery:
    """Everything the worker needs for one attempt, read in the claim itself."""

    delivery_key: int
    claim_id: int
    attempts_made: int
    trigger_type: TriggerType
    msg_id: str
    msg_key: int
    app_key: int
    endpoint_id: str
    endpoint_key: int
    url: str
    payload: bytes
    secrets: list[str]
    headers: dict[str, str]
    # Attempts per second the endpoint accepts (its `rateLimit`/`throttleRate`).
    rate_limit: int | None = None
    # For operational webhooks about this delivery.
    app_id: str = ""
    app_uid: str | None = None
    endpoint_uid: str | None = None
    event_id: str | None = None
    # A forward of an inbound event keeps the content type it arrived with.
    content_type: str = "application/json"
    # Most attempts in flight for this endpoint, when fixed (an action's limit)
    # rather than adapted to the endpoint's health.
    concurrency_cap: int | None = None
    # Who performs its attempts, decided at the claim from the application and URL.
    kind: DeliveryKind = DeliveryKind.HTTP
    # The message's trace context, and whether the endpoint is sent it.
    trace_context: str | None = None
    propagate_trace: bool = False
    # Sent as this attempt's `traceparent` header, when the endpoint is to get one.
    traceparent: str | None = None


@dataclass
class AttemptResult:
    """What one HTTP attempt produced, to be recorded against its claim."""

    attempt_id: str
    delivery: ClaimedDelivery
    succeeded: bool
    status_code: int
    response: str
    duration_ms: int
    error: str | None
    finished_at: int
    # When to try again, or None when this was the last attempt (or it succeeded).
    retry_at: int | None
    verdict: Verdict = Verdict.FAILED
    note: str | None = None


@dataclass(frozen=True)
class DisabledEndpoint:
    """An endpoint that recording attempts disabled, and why."""

    app_key: int
    endpoint_id: str
    reason: str
    # Start of the run of failures that led here (None when a 410 did it).
    failing_since: int | None = None


@dataclass(frozen=True)
class Backlog:
    """The queue at a glance, for metrics: deliveries waiting to be attempted (those
    of disabled endpoints, parked for recovery, not counted), and when the earliest
    of them fell or falls due."""

    pending: int
    earliest_due_at: int | None


@dataclass
class RecordOutcome:
    """Consequences of recorded attempts that the database decided."""

    disabled: list[DisabledEndpoint] = field(default_factory=list)


@dataclass
class MessageFilter:
    limit: int = 50
    iterator: str | None = None
    channel: str | None = None
    tag: str | None = None
    event_types: list[str] | None = None
    before: int | None = None
    after: int | None = None


@dataclass
class AttemptFilter:
    limit: int = 50
    iterator: str | None = None
    status: DeliveryStatus | None = None
    status_code_class: int | None = None
    channel: str | None = None
    tag: str | None = None
    event_types: list[str] | None = None
    before: int | None = None
    after: int | None = None
    msg_key: int | None = None
    endpoint_key: int | None = None


# the receiving half ---------------------------------------------------------------


@dataclass
class Source:
    """An inbound URL that verifies webhooks from a third party (`src_…`).

    `config` is the verifier's config (`{"secrets": [...]}` and the like). Verified
    events become messages of the source's own internal application (`app_key`),
    whose endpoints are the source's forward targets. `token` is the secret part of
    the ingest URL; after a rotation `previous_token` keeps working until
    `previous_token_expires_at`.
    """

    id: str
    name: str
    type: str
    token: str
    config: dict[str, Any] = field(default_factory=dict)
    uid: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    previous_token: str | None = None
    previous_token_expires_at: int | None = None
    app_key: int = 0
    created_at: int = 0
    updated_at: int = 0
    key: int = 0


@dataclass
class InboundEvent:
    """What arrived with a verified event besides its body (kept in the message)."""

    msg_key: int
    source_key: int
    headers: dict[str, str]
    delivery_id: str | None
    received_at: int
    # The raw query string of the ingest URL, without the "?".
    query: str = ""


@dataclass
class Rejection:
    """An inbound request a source refused, kept so the operator can see why."""

    source_key: int
    status_code: int
    reason: str
    detail: str
    received_at: int
    key: int = 0
