"""Traces end to end, on SQLite and PostgreSQL: one trace per message, its creation
linked to every attempt, and the `traceparent` endpoints are sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.integration.operations.conftest import Start, api_client
from tests.keys import TEST_KEYS
from tests.waiting import eventually
from tidings.api.app import create_app
from tidings.config import Settings
from tidings.delivery.guard import AddressPolicy
from tidings.delivery.worker import Worker, WorkerOptions
from tidings.storage import open_store
from tidings.telemetry import traces
from tidings.testing import Receiver

SENDER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SENDER_SPAN = "00f067aa0ba902b7"
SENDERS = f"00-{SENDER_TRACE}-{SENDER_SPAN}-01"
TOKEN = "traces_" + "t" * 32


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traces.enable(provider)
    yield exporter
    traces.disable()
    provider.shutdown()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_database")
        return url
    return f"sqlite:///{tmp_path / 'traces.db'}"


async def _deliver(database_url: str, receiver: Receiver, expected: int) -> dict[str, Any]:
    """Create an application with a propagating and a plain endpoint and one message
    (with the sender's traceparent) through the API, then deliver it with a worker,
    all in this process; the ids made."""
    store = open_store(database_url, keys=TEST_KEYS)
    await store.open()
    app = create_app(store, Settings(admin_token=TOKEN))
    transport = httpx.ASGITransport(app=app)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as http:
        await http.post("/api/v1/app", json={"name": "shop", "uid": "shop"})
        traced = await http.post(
            "/api/v1/app/shop/endpoint",
            json={"url": receiver.url("/traced"), "tracePropagation": True},
        )
        assert traced.json()["tracePropagation"] is True
        plain = await http.post("/api/v1/app/shop/endpoint", json={"url": receiver.url("/plain")})
        sent = await http.post(
            "/api/v1/app/shop/msg",
            json={"eventType": "order.paid", "payload": {}},
            headers={"traceparent": SENDERS},
        )
        assert sent.status_code == 202, sent.text
    options = WorkerOptions(
        (0.0, 0.05), 5.0, 8, AddressPolicy.from_setting("", allow_loopback=True)
    )
    worker = Worker(store, options)
    stopping = asyncio.Event()
    running = asyncio.create_task(worker.run(stopping))
    for _ in range(400):
        if len(receiver.received()) >= expected:
            break
        await asyncio.sleep(0.025)
    stopping.set()
    await running
    await store.close()
    return {"msg": sent.json()["id"], "traced": traced.json()["id"], "plain": plain.json()["id"]}


def _named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def test_one_trace_per_message_linked_to_its_attempts(
    spans: InMemorySpanExporter, database_url: str, receiver: Receiver
) -> None:
    receiver.respond("/plain", [500])  # one failed attempt, then success: two spans
    made = asyncio.run(_deliver(database_url, receiver, expected=3))
    (created,) = _named(spans, traces.MESSAGE_SPAN)
    attempts = _named(spans, traces.ATTEMPT_SPAN)
    assert len(attempts) == 3
    # The message's trace continues the sender's.
    assert created.context is not None and created.parent is not None
    assert f"{created.context.trace_id:032x}" == SENDER_TRACE
    assert f"{created.parent.span_id:016x}" == SENDER_SPAN
    assert created.kind == SpanKind.SERVER
    assert created.attributes is not None and created.attributes["tidings.msg_id"] == made["msg"]
    for attempt in attempts:  # each attempt: in the same trace, a child of and linked to it
        assert attempt.context is not None and attempt.parent is not None
        assert attempt.context.trace_id == created.context.trace_id
        assert attempt.parent.span_id == created.context.span_id
        assert [link.context.span_id for link in attempt.links] == [created.context.span_id]
        assert attempt.kind == SpanKind.CLIENT
    by_endpoint: dict[str, list[ReadableSpan]] = {}
    for attempt in attempts:
        assert attempt.attributes is not None
        by_endpoint.setdefault(str(attempt.attributes["tidings.endpoint_id"]), []).append(attempt)
    failed, succeeded = sorted(by_endpoint[made["plain"]], key=lambda s: s.start_time or 0)
    assert failed.status.status_code == StatusCode.ERROR
    assert succeeded.status.status_code != StatusCode.ERROR
    # The endpoint that asked is sent its attempt's span as the parent; the other, nothing.
    (traced,) = by_endpoint[made["traced"]]
    assert traced.context is not None
    (request,) = receiver.received("/traced")
    expected = f"00-{SENDER_TRACE}-{traced.context.span_id:016x}-01"
    assert request.headers["traceparent"] == expected
    assert all("traceparent" not in r.headers for r in receiver.received("/plain"))


def test_propagation_without_tracing_passes_the_senders_context_on(
    start: Start, receiver: Receiver
) -> None:
    server = start()  # no OTEL_* variables: traces are off
    with api_client(server) as http:
        http.post("/api/v1/app", json={"name": "shop", "uid": "shop"})
        asked = {"url": receiver.url("/traced"), "tracePropagation": True}
        assert http.post("/api/v1/app/shop/endpoint", json=asked).status_code == 201
        http.post("/api/v1/app/shop/endpoint", json={"url": receiver.url("/plain")})
        for header in (SENDERS, "not-a-trace-context"):
            body = {"eventType": "order.paid", "payload": {}}
            sent = http.post("/api/v1/app/shop/msg", json=body, headers={"traceparent": header})
            assert sent.status_code == 202
    receiver.wait_for(2, "/traced")
    receiver.wait_for(2, "/plain")
    first, second = sorted(receiver.received("/traced"), key=lambda r: r.at)
    assert first.headers["traceparent"] == SENDERS  # as it came: nothing traced it
    assert "traceparent" not in second.headers  # a malformed one is never passed on
    assert all("traceparent" not in r.headers for r in receiver.received("/plain"))


def test_propagation_for_every_endpoint(start: Start, receiver: Receiver) -> None:
    server = start(trace_propagation="true")
    with api_client(server) as http:
        http.post("/api/v1/app", json={"name": "shop", "uid": "shop"})
        http.post("/api/v1/app/shop/endpoint", json={"url": receiver.url("/plain")})
        body = {"eventType": "order.paid", "payload": {}}
        http.post("/api/v1/app/shop/msg", json=body, headers={"traceparent": SENDERS})
    (request,) = receiver.wait_for(1, "/plain")
    assert request.headers["traceparent"] == SENDERS


def test_spans_reach_an_otlp_collector(start: Start, receiver: Receiver) -> None:
    """The standard OTEL_* variables are all it takes: spans are exported over
    OTLP/HTTP (here to a receiver standing in for the collector's port)."""
    server = start()
    server.stop()
    server.settings.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url(""),
            "OTEL_SERVICE_NAME": "tidings-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
    )
    server.start()
    with api_client(server) as http:
        http.post("/api/v1/app", json={"name": "shop", "uid": "shop"})
        http.post("/api/v1/app/shop/endpoint", json={"url": receiver.url("/hook")})
        http.post("/api/v1/app/shop/msg", json={"eventType": "order.paid", "payload": {}})
    receiver.wait_for(1, "/hook")
    exported = eventually(
        lambda: receiver.received("/v1/traces"),
        lambda found: b"deliver" in b"".join(r.body for r in found),
    )
    body = b"".join(r.body for r in exported)
    assert exported[0].headers["Content-Type"] == "application/x-protobuf"
    assert b"tidings-test" in body and traces.MESSAGE_SPAN.encode() in body
    assert b"deliver" in body
