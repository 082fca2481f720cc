"""Actions declared in the config file, end to end against the real server: GitHub
events run a command, Stripe events are forwarded, Python callables are called,
all with retries and attempt records, and the file is reloaded when it changes."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks
import stripe

from tests.harness import ServerProcess
from tests.integration.ingest.test_sources import GITHUB_SECRET, github_post
from tests.waiting import eventually
from tidings.storage import KeyRing, Store, open_store
from tidings.testing import Receiver

STRIPE_SECRET = "whsec_stripe_test_secret"
FORWARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
Start = Callable[[str], ServerProcess]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def start(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Start]:
    """Start the real server with the config file `text` (written into tmp_path)."""
    started: list[ServerProcess] = []

    def starting(text: str) -> ServerProcess:
        config = tmp_path / "tidings.toml"
        config.write_text(textwrap.dedent(text))
        settings = {"config": str(config), "retry_schedule": "0,0.3,0.3,0.3"}
        if request.param == "postgres":
            settings["database_url"] = request.getfixturevalue("postgres_database")
        started.append(ServerProcess(tmp_path, **settings).start())
        return started[-1]

    yield starting
    for process in started:
        process.stop()


def github_config(uid: str, actions: str) -> str:
    """A config file with one GitHub source and the given [[source.action]] tables."""
    head = f'[[source]]\nuid = "{uid}"\ntype = "github"\nsecrets = ["{GITHUB_SECRET}"]\n'
    return head + textwrap.dedent(actions)


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def ingest_url(server: ServerProcess, source: str) -> str:
    url: str = server.get_json(f"/ingest/api/v1/source/{source}")["ingestUrl"]
    return url


def attempts(server: ServerProcess, source: str, endpoint: str) -> list[dict[str, Any]]:
    found = server.get_json(f"/ingest/api/v1/source/{source}/attempt/endpoint/{endpoint}")
    return sorted(found["data"], key=lambda attempt: attempt["timestamp"])


def github(url: str, body: dict[str, Any], delivery: str | None = None) -> httpx.Response:
    return github_post(url, json.dumps(body).encode(), delivery=delivery)


def test_github_push_runs_a_command_with_retries_and_attempt_records(
    start: Start, tmp_path: Path
) -> None:
    ran = tmp_path / "ran.log"
    # Fails its first run (no marker yet), succeeds after: one retry.
    script(
        tmp_path,
        "deploy.sh",
        f"""\
        if [ ! -e first-run ]; then touch first-run; echo "not yet" >&2; exit 7; fi
        echo "$1 $GIT_REF $TIDINGS_EVENT_ID $(cat)" >> {ran}
        echo deployed
    """,
    )
    server = start(
        github_config(
            "deploys",
            """
          [[source.action]]
          name = "deploy"
          command = ["./deploy.sh", "{payload.repository.full_name}"]
          env = { GIT_REF = "{payload.ref}" }
          match = { "header.x-github-event" = "pull_request" }
    """,
        )
    )
    url = ingest_url(server, "deploys")
    push = {"ref": "refs/heads/main", "repository": {"full_name": "acme/api"}}
    answer = github(url, push, delivery="delivery-1")
    assert answer.status_code == 200, answer.text
    msg_id = answer.json()["id"]
    lines = eventually(lambda: ran.read_text() if ran.exists() else "", bool)
    assert lines == f"acme/api refs/heads/main {msg_id} {json.dumps(push)}\n"
    tries = eventually(
        lambda: attempts(server, "deploys", "config.deploy"), lambda found: len(found) == 2
    )
    assert [(a["status"], a["responseStatusCode"]) for a in tries] == [(2, 500), (0, 200)]
    assert tries[0]["response"] == "\n--- stderr ---\nnot yet\n"
    assert tries[1]["response"] == "deployed\n"
    assert tries[1]["url"] == "action://deploys/deploy"
    # The same delivery again is acknowledged but not acted on twice.
    again = github(url, push, delivery="delivery-1")
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    # One event kept, and its one delivery has succeeded: nothing is left to run.
    assert len(server.get_json("/ingest/api/v1/source/deploys/event")["data"]) == 1
    assert ran.read_text().count("\n") == 1


def test_a_python_callable_is_retried_until_it_succeeds(start: Start, tmp_path: Path) -> None:
    (tmp_path / "hooks_for_test.py").write_text(
        textwrap.dedent("""\
        def record(event):
            if event.attempt == 1:
                raise RuntimeError("database is down")
            return {"id": event.id, "ref": event.json()["ref"], "q": event.query_params}
    """)
    )
    server = start(
        github_config(
            "py",
            """
          [[source.action]]
          name = "record"
          python = "hooks_for_test:record"
    """,
        )
    )
    answer = github(ingest_url(server, "py") + "?team=core", {"ref": "refs/tags/v1"})
    tries = eventually(
        lambda: attempts(server, "py", "config.record"), lambda found: len(found) == 2
    )
    assert [(a["status"], a["responseStatusCode"]) for a in tries] == [(2, 500), (0, 200)]
    assert "RuntimeError: database is down" in tries[0]["response"]
    assert json.loads(tries[1]["response"]) == {
        "id": answer.json()["id"],
        "ref": "refs/tags/v1",
        "q": {"team": "core"},
    }


def test_serial_actions_never_overlap_and_extra_runs_queue(start: Start, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    script(
        tmp_path,
        "slow.sh",
        f"""\
        echo "start $1 $(date +%s.%N)" >> {log}
        sleep 0.3
        echo "end $1 $(date +%s.%N)" >> {log}
    """,
    )
    server = start(
        github_config(
            "serial",
            """
          [[source.action]]
          name = "one-at-a-time"
          command = ["./slow.sh", "{payload.n}"]
          serial = true
    """,
        )
    )
    url = ingest_url(server, "serial")
    for number in range(5):
        assert github(url, {"n": number}).status_code == 200
    done = eventually(
        lambda: log.read_text() if log.exists() else "", lambda text: text.count("end") == 5
    )
    events = [line.split() for line in done.splitlines()]
    running = 0
    for kind, _, _ in sorted(events, key=lambda event: float(event[2])):
        running += 1 if kind == "start" else -1
        assert running <= 1, done
    assert sorted(int(n) for kind, n, _ in events if kind == "end") == list(range(5))


def test_stripe_events_are_forwarded_with_the_original_bytes_and_chosen_headers(
    start: Start, receiver: Receiver
) -> None:
    server = start(f"""
        [[source]]
        uid = "payments"
        type = "stripe"
        secrets = ["{STRIPE_SECRET}"]
        forward_headers = ["stripe-signature", "x-request-origin"]

          [[source.action]]
          name = "billing"
          forward = "{receiver.url("/billing")}"
          secret = "{FORWARD_SECRET}"
    """)
    body = b'{"id": "evt_1", "type": "invoice.paid",  "data": {"object": {"amount": 700}}}'
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), STRIPE_SECRET, timestamp=int(time.time())
    )
    answer = httpx.post(
        ingest_url(server, "payments"),
        content=body,
        timeout=10,
        headers={
            "Stripe-Signature": header,
            "X-Request-Origin": "eu",
            "X-Not-Chosen": "1",
            "Content-Type": "application/json; charset=utf-8",
        },
    )
    assert answer.status_code == 200, answer.text
    (forwarded,) = receiver.wait_for(1, "/billing")
    headers = {name.lower(): value for name, value in forwarded.headers.items()}
    assert forwarded.body == body
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers.get("stripe-signature") == header, headers
    assert headers.get("x-request-origin") == "eu"
    assert "x-not-chosen" not in headers
    # Re-signed with the forward's own secret, over the same bytes.
    standardwebhooks.Webhook(FORWARD_SECRET).verify(body, headers)


def test_a_changed_file_is_reloaded_and_a_broken_one_keeps_the_last_good(
    start: Start, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    for name in ("first", "second"):
        script(tmp_path, f"{name}.sh", f'echo "{name} $1" >> {log}\n')
    text = github_config(
        "reloading",
        """
          [[source.action]]
          name = "first"
          command = ["./first.sh", "{payload.n}"]
    """,
    )
    server = start(text)
    config = Path(server.settings["TIDINGS_CONFIG"])
    url = ingest_url(server, "reloading")
    github(url, {"n": 1})
    eventually(lambda: log.read_text() if log.exists() else "", lambda t: "first 1" in t)
    config.write_text(textwrap.dedent(text.replace("first", "second")))
    endpoints = lambda: server.get_json("/ingest/api/v1/source/reloading/endpoint")["data"]  # noqa: E731
    # The reload writes each endpoint in turn: wait for the last of them.
    states = lambda: {e["uid"]: e["disabled"] for e in endpoints()}  # noqa: E731
    wanted = {"config.first": True, "config.second": False}  # removed, kept disabled
    assert eventually(states, lambda found: found == wanted) == wanted
    github(url, {"n": 2})
    eventually(lambda: log.read_text(), lambda t: "second 2" in t)
    config.write_text(textwrap.dedent(text.replace("./first.sh", "./missing.sh")))
    eventually(server.output, lambda out: "keeping the previous config" in out)
    assert "command[0]: './missing.sh' is not an executable file" in server.output()
    github(url, {"n": 3})
    assert "second 3" in eventually(lambda: log.read_text(), lambda t: "second 3" in t)


def test_action_endpoints_cannot_be_repointed_or_removed_through_the_api(
    start: Start, tmp_path: Path
) -> None:
    script(tmp_path, "noop.sh", "exit 0\n")
    server = start(
        github_config(
            "guarded",
            """
          [[source.action]]
          name = "noop"
          command = ["./noop.sh"]
    """,
        )
    )
    base = f"{server.url}/ingest/api/v1/source/guarded/endpoint/config.noop"
    auth = {"Authorization": f"Bearer {server.token}"}
    put = httpx.put(base, json={"url": "https://example.com/x"}, headers=auth)
    assert put.status_code == 409 and "declared in the config file" in put.text
    assert httpx.patch(base, json={"url": "https://example.com/x"}, headers=auth).status_code == 409
    assert httpx.delete(base, headers=auth).status_code == 409
    paused = httpx.patch(base, json={"disabled": True}, headers=auth)
    assert (paused.status_code, paused.json()["disabled"]) == (200, True)
    # An API client cannot create an action endpoint either: only http(s) URLs.
    created = httpx.post(
        base.rsplit("/", 1)[0], json={"url": "action://guarded/noop"}, headers=auth
    )
    assert created.status_code == 422 and "http" in created.text


def test_a_bad_file_at_start_stops_the_server_naming_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(
        '[[source]]\nuid = "x"\ntype = "github"\nsecrets = ["s"]\n'
        '[[source.action]]\nname = "a"\ncommand = ["./absent"]\n'
    )
    with pytest.raises(RuntimeError, match=r"source\[0\]\.action\[0\]\.command\[0\]"):
        ServerProcess(tmp_path, config=str(config)).start()


def test_a_declared_source_and_its_forwards_are_read_only_through_the_api(
    start: Start, receiver: Receiver
) -> None:
    server = start(f"""
        [[source]]
        uid = "declared"
        type = "stripe"
        secrets = ["{STRIPE_SECRET}"]

          [[source.action]]
          name = "billing"
          forward = "{receiver.url("/billing")}"
          secret = "{FORWARD_SECRET}"
    """)
    auth = {"Authorization": f"Bearer {server.token}"}
    source = f"{server.url}/ingest/api/v1/source/declared"
    opened = {"name": "x", "type": "generic-webhook", "config": {}}
    refused = [
        httpx.put(source, json=opened, headers=auth),
        httpx.delete(source, headers=auth),
        httpx.post(source + "/token/rotate", headers=auth),
    ]
    forward = source + "/endpoint/config.billing"
    refused += [
        httpx.patch(forward, json={"url": "https://attacker.example/"}, headers=auth),
        httpx.patch(forward, json={"uid": "renamed"}, headers=auth),
        httpx.put(forward, json={"url": receiver.url("/billing")}, headers=auth),
        httpx.delete(forward, headers=auth),
        httpx.post(forward + "/secret/rotate", json={}, headers=auth),
        httpx.put(forward + "/headers", json={"headers": {"x-a": "b"}}, headers=auth),
    ]
    assert [answer.status_code for answer in refused] == [409] * len(refused)
    assert all("declared in the config file" in answer.text for answer in refused)
    paused = httpx.patch(forward, json={"disabled": True}, headers=auth)
    assert (paused.status_code, paused.json()["disabled"]) == (200, True)
    shown = server.get_json("/ingest/api/v1/source/declared")
    assert (shown["type"], shown["metadata"]) == ("stripe", {"managedBy": "config-file"})


def test_the_file_is_asserted_again_at_every_start(start: Start) -> None:
    server = start(f"""
        [[source]]
        uid = "asserted"
        type = "stripe"
        secrets = ["{STRIPE_SECRET}"]
    """)
    url = ingest_url(server, "asserted")
    server.stop()
    # Changed behind the API's back (a restored backup, a hand-run statement).
    store = open_store(server.database_url, keys=key_ring(server))
    asyncio.run(_tamper(store))
    restarted = server.successor().start()
    shown = restarted.get_json("/ingest/api/v1/source/asserted")
    assert (shown["type"], shown["metadata"]) == ("stripe", {"managedBy": "config-file"})
    unsigned = httpx.post(url, content=b"{}", timeout=10)
    assert unsigned.status_code == 401
    restarted.stop()


async def _tamper(store: Store) -> None:
    await store.open()
    try:
        found = await store.get_source("asserted")
        assert found is not None
        found.type, found.config, found.metadata = "generic-webhook", {}, {}
        await store.update_source(found)
    finally:
        await store.close()


def key_ring(server: ServerProcess) -> KeyRing | None:
    key = server.settings.get("TIDINGS_SECRET_KEY")
    return KeyRing.parse(key) if key else None
