"""/metrics on the real server, on SQLite and PostgreSQL: what each series counts,
who may read it, and that several processes behind one port add up."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.harness import tidings
from tests.integration.operations.conftest import Start, app_with_endpoints, send
from tests.integration.operations.scraping import Scrape, scrape
from tests.waiting import eventually
from tidings.testing import Receiver, free_port

MESSAGE_ROUTE = "/api/v1/app/{app_id}/msg"


def test_messages_attempts_and_requests_are_counted(start: Start, receiver: Receiver) -> None:
    receiver.respond("/fail", then=500)
    server = start()
    app_with_endpoints(server, receiver.url("/ok"), receiver.url("/fail"))
    send(server, 3)
    receiver.wait_for(3, "/ok")
    receiver.wait_for(9, "/fail")  # three attempts each (the harness's schedule)

    def read() -> Scrape:
        return scrape(server.url, server.token)

    found = eventually(read, lambda s: s.value("tidings_attempts_total", outcome="failed") == 9)
    assert found.value("tidings_attempts_total", outcome="delivered") == 3
    assert found.value("tidings_attempts_total", outcome="failed") == 9
    assert found.value("tidings_attempt_duration_seconds_count") == 12
    assert found.value("tidings_attempt_duration_seconds_bucket", le="+Inf") == 12
    assert found.value("tidings_messages_created_total", app="") == 3
    assert (
        found.value("tidings_http_requests_total", method="POST", route=MESSAGE_ROUTE, status="202")
        == 3
    )
    # Routes of nested routers carry their whole template, never an id.
    endpoint_route = "/api/v1/app/{app_id}/endpoint"
    assert (
        found.value(
            "tidings_http_requests_total", method="POST", route=endpoint_route, status="201"
        )
        == 2
    )
    routes = {dict(labels).get("route") for name, labels in found.samples if "http" in name}
    assert routes - {"/metrics"} == {
        "/api/v1/health",
        "/api/v1/app",
        endpoint_route,
        MESSAGE_ROUTE,
    }
    assert (
        found.value(
            "tidings_http_request_duration_seconds_count", method="POST", route=MESSAGE_ROUTE
        )
        == 3
    )
    # Nothing is left to deliver: the gauges read the queue itself.
    settled = eventually(read, lambda s: s.value("tidings_deliveries_pending") == 0)
    assert settled.value("tidings_deliveries_pending") == 0
    assert settled.value("tidings_oldest_pending_age_seconds") == 0


def test_the_backlog_gauges_read_the_queue(start: Start, receiver: Receiver) -> None:
    api = start("api")  # no worker: what is sent stays due
    app_with_endpoints(api, receiver.url("/a"), receiver.url("/b"))
    send(api, 3)
    found = eventually(
        lambda: scrape(api.url, api.token),
        lambda s: s.value("tidings_oldest_pending_age_seconds") >= 2.5,
        timeout=20,  # the gauges are read again at most every 2 s
    )
    assert found.value("tidings_deliveries_pending") == 6
    assert found.value("tidings_oldest_pending_age_seconds") >= 2.5
    # A worker drains it, and both gauges fall to nothing.
    start("worker")
    receiver.wait_for(6)
    drained = eventually(
        lambda: scrape(api.url, api.token), lambda s: s.value("tidings_deliveries_pending") == 0
    )
    assert drained.value("tidings_deliveries_pending") == 0
    assert drained.value("tidings_oldest_pending_age_seconds") == 0


def test_metrics_need_the_admin_token(start: Start, tmp_path: Path) -> None:
    server = start()
    app_with_endpoints(server, "https://example.com/hook")
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert (
        httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    app_token = tidings("token", "create", "--app", "shop", env=server.cli_env()).strip()
    answer = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {app_token}"})
    assert answer.status_code == 403, answer.text
    assert "admin token" in answer.json()["detail"]


def test_public_metrics_need_no_token(start: Start) -> None:
    server = start(metrics_public="true")
    answer = httpx.get(f"{server.url}/metrics")
    assert answer.status_code == 200
    assert "tidings_messages_created_total" in answer.text


def test_application_labels_are_opt_in(start: Start, receiver: Receiver) -> None:
    server = start(metrics_app_labels="true")
    app_with_endpoints(server, receiver.url("/ok"))
    send(server, 2)
    app_id = server.get_json("/api/v1/app/shop")["id"]
    found = scrape(server.url, server.token)
    assert found.value("tidings_messages_created_total", app=app_id) == 2
    assert found.value("tidings_messages_created_total", app="") == 0


def test_processes_behind_one_port_add_up(start: Start, receiver: Receiver) -> None:
    server = start(api_processes="2")
    eventually(server.output, lambda text: text.count("serving") == 2, timeout=60)
    app_with_endpoints(server, receiver.url("/ok"))
    sent = 40
    for _ in range(sent):  # a connection each: the kernel spreads them over both
        send(server, 1)
    receiver.wait_for(sent, "/ok")

    # Each scrape is answered by one process or the other; every one sums all three
    # (two API processes that created the messages, one worker that sent them).
    def complete(found: Scrape) -> bool:
        # Each process adds its counts to the shared files within a second.
        return (
            found.value("tidings_attempts_total", outcome="delivered") == sent
            and found.value("tidings_messages_created_total", app="") == sent
            and found.total("tidings_http_requests_total", route=MESSAGE_ROUTE) == sent
        )

    scrapes = [eventually(lambda: scrape(server.url, server.token), complete) for _ in range(6)]
    for found in scrapes:
        assert found.value("tidings_messages_created_total", app="") == sent
        assert found.value("tidings_attempts_total", outcome="delivered") == sent
        assert (
            found.value(
                "tidings_http_requests_total", method="POST", route=MESSAGE_ROUTE, status="202"
            )
            == sent
        )


def test_a_worker_serves_metrics_and_probes_on_its_own_port(
    start: Start, receiver: Receiver
) -> None:
    api = start("api")
    worker = start("worker", metrics_port=str(free_port()))
    worker_url = f"http://127.0.0.1:{worker.settings['TIDINGS_METRICS_PORT']}"
    ready = eventually(
        lambda: _get(f"{worker_url}/readyz"), lambda a: a is not None and a.status_code == 200
    )
    assert ready is not None and ready.json() == {"status": "ready"}
    live = httpx.get(f"{worker_url}/livez")
    assert (live.status_code, live.json()) == (200, {"status": "live"})
    assert httpx.get(f"{worker_url}/metrics").status_code == 401
    app_with_endpoints(api, receiver.url("/ok"))
    send(api, 5)
    receiver.wait_for(5, "/ok")
    # Each process counts what it did itself: the worker the attempts, the API the messages.
    at_worker = eventually(
        lambda: scrape(worker_url, api.token),
        lambda s: s.value("tidings_attempts_total", outcome="delivered") == 5,
    )
    assert at_worker.value("tidings_attempts_total", outcome="delivered") == 5
    assert at_worker.value("tidings_deliveries_pending") == 0
    at_api = scrape(api.url, api.token)
    assert at_api.value("tidings_messages_created_total", app="") == 5
    assert at_api.value("tidings_attempts_total", outcome="delivered") == 0
    assert httpx.get(f"{api.url}/readyz").json() == {"status": "ready"}


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None
