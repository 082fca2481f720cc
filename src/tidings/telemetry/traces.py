"""Traces: OpenTelemetry spans, when the `otel` extra is installed and asked for.

One trace per message. The request that creates it is a span (a child of the
sender's own `traceparent`, when it sends one); its W3C trace context is stored with
the message, and each delivery attempt, whenever and wherever it runs, is a span of
the same trace, linked to the request's.

Without the SDK, or unless the standard `OTEL_*` variables ask for traces, nothing
here costs more than a check: a message still keeps the sender's `traceparent`, and
attempts still pass it on to the endpoints that want it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tidings.telemetry.logs import get_logger

log = get_logger(__name__)

# version 00, a trace id and a parent id that are not all zeros, and flags.
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
MESSAGE_SPAN = "POST /api/v1/app/{app_id}/msg"
ATTEMPT_SPAN = "deliver"

_tracer: Any = None


def valid(traceparent: str | None) -> str | None:
    """A W3C `traceparent` worth keeping, or None (anything malformed is dropped,
    never stored or passed on)."""
    if traceparent is None:
        return None
    text = traceparent.strip().lower()
    return text if _TRACEPARENT.fullmatch(text) else None


def configure() -> bool:
    """Send spans to an OTLP collector when the environment asks for traces:
    `OTEL_TRACES_EXPORTER=otlp` (or `console`), or an OTLP endpoint set. The
    exporter reads its own `OTEL_EXPORTER_OTLP_*` settings, and the resource
    `OTEL_SERVICE_NAME` (by default `tidings`) and `OTEL_RESOURCE_ATTRIBUTES`."""
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = any(
        os.environ.get(name)
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if disabled or exporter == "none" or not (exporter or endpoint):
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        log.warning("OTEL_* variables ask for traces, but `pip install 'tidings[otel]'` is missing")
        return False
    if exporter in ("", "otlp"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        chosen: Any = OTLPSpanExporter()
    elif exporter == "console":
        chosen = ConsoleSpanExporter()
    else:
        log.warning("unknown OTEL_TRACES_EXPORTER; traces are off", exporter=exporter)
        return False
    service = os.environ.get("OTEL_SERVICE_NAME") or "tidings"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(chosen))
    enable(provider)
    log.info("traces on", exporter=exporter or "otlp", service=service)
    return True


def enable(provider: Any) -> None:
    """Trace with `provider` (an SDK TracerProvider): `configure`'s, or a test's."""
    global _tracer
    _tracer = provider.get_tracer("tidings")


def disable() -> None:
    global _tracer
    _tracer = None


def enabled() -> bool:
    return _tracer is not None


@contextmanager
def message_created(
    app_id: str, msg_id: str, event_type: str, traceparent: str | None
) -> Iterator[str | None]:
    """Around creating one message: yields the trace context to store with it (this
    request's span, or without tracing the sender's `traceparent` as it came)."""
    incoming = valid(traceparent)
    if _tracer is None:
        yield incoming
        return
    from opentelemetry.trace import SpanKind

    attributes = {
        "tidings.app_id": app_id,
        "tidings.msg_id": msg_id,
        "tidings.event_type": event_type,
    }
    with _tracer.start_as_current_span(
        MESSAGE_SPAN, context=_parent(incoming), kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield _traceparent_of(span)


@contextmanager
def attempt(
    trace_context: str | None, attributes: dict[str, Any]
) -> Iterator[tuple[str | None, Any]]:
    """Around one delivery attempt of a message stored with `trace_context`: yields
    the `traceparent` an endpoint may be sent (this attempt's span, in the message's
    trace; without tracing, the stored context) and the span, or None."""
    if _tracer is None or trace_context is None:
        yield trace_context, None
        return
    from opentelemetry.trace import Link, SpanKind, get_current_span

    parent = _parent(trace_context)
    linked = get_current_span(parent).get_span_context()
    with _tracer.start_as_current_span(
        ATTEMPT_SPAN,
        context=parent,
        kind=SpanKind.CLIENT,
        links=[Link(linked, {"tidings.link": "message created"})],
        attributes=attributes,
    ) as span:
        yield _traceparent_of(span), span


def finished(span: Any, succeeded: bool, status_code: int, error: str | None) -> None:
    """Record an attempt's outcome on its span (None: not traced)."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("http.response.status_code", status_code)
    if not succeeded:
        span.set_status(Status(StatusCode.ERROR, error or f"HTTP {status_code}"))


def _parent(traceparent: str | None) -> Any:
    if traceparent is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": traceparent})


def _traceparent_of(span: Any) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
