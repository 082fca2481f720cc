"""The real server's log lines, on SQLite and PostgreSQL: JSON by default when not
on a terminal, one line per attempt with the ids an operator searches by, never a
payload or a secret, and as many attempt lines as TIDINGS_LOG_ATTEMPTS asks."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import ServerProcess
from tests.integration.operations.conftest import Start, app_with_endpoints, send
from tests.waiting import eventually
from tidings.testing import Receiver

# In every payload sent here: it must never appear in a log line.
MARKER = "card-4242-never-logged"


def lines(server: ServerProcess) -> list[dict[str, Any]]:
    """Every log line of the server, each of which must be one JSON object."""
    parsed = []
    for line in server.output().splitlines():
        if line.strip():
            parsed.append(json.loads(line))  # a line that is not JSON fails the test
    return parsed


def attempt_lines(server: ServerProcess) -> list[dict[str, Any]]:
    return [line for line in lines(server) if line["event"].startswith("attempt")]


def test_one_line_per_attempt_with_ids_and_no_secrets(start: Start, receiver: Receiver) -> None:
    receiver.respond("/fail", then=500)
    server = start()
    ok, failing = app_with_endpoints(server, receiver.url("/ok"), receiver.url("/fail"))
    (msg_id,) = send(server, 1, payload={"secret": MARKER})
    receiver.wait_for(3, "/fail")
    found = eventually(lambda: attempt_lines(server), lambda found: len(found) == 4)
    app_id = server.get_json("/api/v1/app/shop")["id"]
    delivered = [line for line in found if line["endpoint_id"] == ok]
    assert len(delivered) == 1
    assert delivered[0] | {"duration_ms": 0, "timestamp": ""} == {
        "event": "attempt",
        "level": "info",
        "logger": "tidings.delivery",
        "timestamp": "",
        "msg_id": msg_id,
        "endpoint_id": ok,
        "app_id": app_id,
        "attempt": 1,
        "status": 200,
        "outcome": "delivered",
        "duration_ms": 0,
    }
    retried = sorted(
        (line for line in found if line["endpoint_id"] == failing), key=lambda line: line["attempt"]
    )
    assert [line["attempt"] for line in retried] == [1, 2, 3]
    assert all(line["status"] == 500 and line["outcome"] == "failed" for line in retried)
    assert all(
        line["next_retry"].endswith("Z") or "+00:00" in line["next_retry"] for line in retried[:2]
    )
    assert (retried[2]["event"], retried[2]["level"], retried[2]["next_retry"]) == (
        "attempt, no retry left",
        "warning",
        None,
    )
    # The settings line shows the setup, secrets masked.
    (settings,) = [line["settings"] for line in lines(server) if line["event"] == "settings"]
    assert settings["admin_token"] == "(set)"
    assert settings["log_attempts"] == "all"
    secret = server.get_json(f"/api/v1/app/shop/endpoint/{ok}/secret")["key"]
    output = server.output()
    for never in (MARKER, server.token, secret, secret.removeprefix("whsec_")):
        assert never not in output


def test_only_failures_are_logged_when_asked(start: Start, receiver: Receiver) -> None:
    receiver.respond("/fail", then=500)
    server = start(log_attempts="failures")
    ok, failing = app_with_endpoints(server, receiver.url("/ok"), receiver.url("/fail"))
    send(server, 2)
    receiver.wait_for(2, "/ok")
    receiver.wait_for(6, "/fail")
    found = eventually(lambda: attempt_lines(server), lambda found: len(found) == 6)
    assert len(found) == 6
    assert {line["endpoint_id"] for line in found} == {failing}
    assert ok not in server.output()


def test_no_attempt_lines_and_no_info_when_asked(start: Start, receiver: Receiver) -> None:
    server = start(log_attempts="none")
    app_with_endpoints(server, receiver.url("/ok"))
    send(server, 2)
    receiver.wait_for(2, "/ok")
    quiet = start("worker", log_level="warning")  # a second worker, at warning
    send(server, 2)
    receiver.wait_for(4, "/ok")
    server.stop()
    quiet.stop()
    assert attempt_lines(server) == []
    assert all(line["level"] in ("warning", "error") for line in lines(quiet))


def test_console_lines_for_people(start: Start, receiver: Receiver) -> None:
    server = start(log_format="console")
    app_with_endpoints(server, receiver.url("/ok"))
    (msg_id,) = send(server, 1)
    receiver.wait_for(1, "/ok")
    text = eventually(server.output, lambda text: msg_id in text)
    (line,) = [line for line in text.splitlines() if msg_id in line]
    assert line.startswith("20")  # the timestamp first
    assert "[info     ] attempt" in line
    assert "status=200" in line and f"msg_id={msg_id}" in line
    assert not line.lstrip().startswith("{")
