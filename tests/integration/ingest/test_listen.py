"""`tidings listen`: the real command against the real server, forwarding to a real
local receiver; events are posted to the source's ingest URL over real sockets."""

from __future__ import annotations

import hashlib
import hmac
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO

import httpx
import pytest
from aiohttp import web

from tests.harness import ServerProcess, clean_environment
from tests.waiting import eventually
from tidings.testing import Receiver, free_port

INGEST_URL = re.compile(r"ingest URL\s+(\S+)")


class Listener:
    """`tidings listen` as a subprocess, its output collected as it is printed."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tidings", "listen", *args],
            env=clean_environment({}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=_collect, args=(stream, sink), daemon=True)
            for stream, sink in ((self.process.stdout, self._out), (self.process.stderr, self._err))
        ]
        for reader in self._readers:
            reader.start()

    @classmethod
    def following(cls, server: ServerProcess, forward_to: str, *extra: str) -> Listener:
        return cls(
            "--forward-to",
            forward_to,
            "--server",
            server.url,
            "--token",
            server.token,
            "--source",
            "dev",
            *extra,
        )

    def output(self) -> str:
        return "".join(self._out)

    def errors(self) -> str:
        return "".join(self._err)

    def wait_for(self, text: str) -> str:
        output = eventually(self.output, lambda out: text in out)
        assert text in output, f"{text!r} not printed; stdout:\n{output}\nstderr:\n{self.errors()}"
        return output

    def ingest_url(self) -> str:
        """Printed once the listener follows the source, from this moment on."""
        output = eventually(self.output, lambda out: "Waiting for events" in out)
        found = INGEST_URL.search(output)
        assert found, f"no ingest URL printed; stdout:\n{output}\nstderr:\n{self.errors()}"
        return found.group(1)

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=15)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def close(self) -> None:
        """Kill the listener if it still runs, and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def finish(self) -> int:
        """Wait for a listener that ends by itself."""
        code = self.process.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=5)
        return code


def _collect(stream: IO[str] | None, sink: list[str]) -> None:
    assert stream is not None
    for line in stream:
        sink.append(line)


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    """Listeners a test starts; any still running at the end are killed."""
    started: list[Listener] = []
    yield started
    for listener in started:
        listener.close()


def start(listeners: list[Listener], listener: Listener) -> Listener:
    listeners.append(listener)
    return listener


def post(url: str, body: bytes, headers: dict[str, str]) -> str:
    answer = httpx.post(url, content=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    msg_id: str = answer.json()["id"]
    return msg_id


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def test_listen_forwards_new_events_exactly_and_prints_them(
    server: ServerProcess, receiver: Receiver, listeners: list[Listener]
) -> None:
    queries: list[str] = []

    async def local_app(request: web.Request) -> web.Response:
        queries.append(request.rel_url.raw_query_string)  # the receiver keeps no query
        return web.Response(status=202, text="accepted by the local app")

    receiver.handle("/hooks", local_app)
    listener = start(listeners, Listener.following(server, receiver.url("/hooks")))
    url = listener.ingest_url()
    sent = [
        (b'{ "n": 1 }', "application/json", "one", ""),
        (b"a=1&b=%FF", "application/x-www-form-urlencoded", "two", "?x=1&y=%20two"),
        (b"\x00\xff\xfe raw", "application/octet-stream", "three", ""),
    ]
    msg_ids = [
        post(url + query, body, {"Content-Type": kind, "X-Custom": custom, "webhook-id": custom})
        for body, kind, custom, query in sent
    ]

    got = receiver.wait_for(3, "/hooks")
    assert [r.body for r in got] == [body for body, *_ in sent]
    assert [lowered(r.headers)["content-type"] for r in got] == [kind for _, kind, *_ in sent]
    assert [lowered(r.headers)["x-custom"] for r in got] == ["one", "two", "three"]
    assert queries == ["", "x=1&y=%20two", ""]
    output = listener.wait_for(f"{msg_ids[2]}")
    output = eventually(listener.output, lambda out: out.count("202 Accepted") == 3)
    assert output.count("202 Accepted") == 3, output
    positions = [output.index(msg_id) for msg_id in msg_ids]
    assert positions == sorted(positions)
    assert "POST /hooks?x=1&y=%20two" in output and "a=1&b=%FF" in output
    assert "delivery one" in output and "accepted by the local app" in output
    assert listener.stop(signal.SIGINT) == 0
    assert listener.errors() == ""


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # CLI behaviour only
def test_provider_signatures_reach_the_local_app_verifiable(
    server: ServerProcess, receiver: Receiver, listeners: list[Listener]
) -> None:
    secret = "gh-secret"
    listener = start(
        listeners,
        Listener.following(server, receiver.url("/gh"), "--type", "github", "--secret", secret),
    )
    url = listener.ingest_url()
    body = b'{"action":"opened", "number": 7}'
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    post(
        url,
        body,
        {
            "X-Hub-Signature-256": signature,
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "d-1",
            "Content-Type": "application/json",
        },
    )

    [got] = receiver.wait_for(1, "/gh")
    headers = lowered(got.headers)
    expected = hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == f"sha256={expected}" == signature
    assert (headers["x-github-event"], headers["x-github-delivery"]) == ("pull_request", "d-1")
    assert listener.stop(signal.SIGTERM) == 0


def test_listen_reuses_its_source_and_skips_earlier_events(
    server: ServerProcess, receiver: Receiver, listeners: list[Listener]
) -> None:
    first = start(listeners, Listener.following(server, receiver.url("/hooks")))
    url = first.ingest_url()
    assert first.stop(signal.SIGTERM) == 0
    post(url, b"early", {})

    second = start(listeners, Listener.following(server, receiver.url("/hooks")))
    assert second.ingest_url() == url
    post(url, b"late", {})
    # Events are forwarded in the order received: "early" would have come first.
    assert [r.body for r in receiver.wait_for(1, "/hooks")] == [b"late"]
    assert second.stop() == 0
    sources = server.get_json("/ingest/api/v1/source")["data"]
    assert [source["uid"] for source in sources] == ["dev"]


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # CLI behaviour only
def test_a_failing_or_absent_local_service_is_reported_and_listening_goes_on(
    server: ServerProcess, receiver: Receiver, listeners: list[Listener]
) -> None:
    down = f"http://127.0.0.1:{free_port()}/hooks"
    listener = start(listeners, Listener.following(server, down))
    url = listener.ingest_url()
    post(url, b"one", {})
    listener.wait_for("did not answer")
    post(url, b"two", {})
    output = eventually(listener.output, lambda out: out.count("did not answer") == 2)
    assert output.count(f"{down} did not answer") == 2, output
    assert listener.stop() == 0

    receiver.respond("/broken", [500])
    failing = start(listeners, Listener.following(server, receiver.url("/broken")))
    url = failing.ingest_url()
    post(url, b"three", {})
    failing.wait_for("500 Internal Server Error")
    post(url, b"four", {})
    failing.wait_for("200 OK")
    assert [r.body for r in receiver.wait_for(2, "/broken")] == [b"three", b"four"]
    assert failing.stop() == 0


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # CLI behaviour only
def test_a_refused_token_ends_with_one_line_and_status_1(
    server: ServerProcess, listeners: list[Listener]
) -> None:
    listener = start(
        listeners,
        Listener(
            "--forward-to",
            "http://127.0.0.1:9/hooks",
            "--server",
            server.url,
            "--token",
            "wrong-token",
        ),
    )
    assert listener.finish() == 1
    assert listener.errors().strip().splitlines() == [
        "tidings listen: the server refused the token (401); check --token or TIDINGS_TOKEN"
    ]


def test_an_unreachable_server_ends_with_one_line_and_status_1(
    listeners: list[Listener],
) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    listener = start(
        listeners,
        Listener("--forward-to", "http://127.0.0.1:9/hooks", "--server", server, "--token", "t"),
    )
    assert listener.finish() == 1
    [line] = listener.errors().strip().splitlines()
    assert line.startswith(f"tidings listen: cannot reach {server}: "), line
    assert listener.output() == ""
    tokenless = start(listeners, Listener("--forward-to", "http://127.0.0.1:9/hooks"))
    assert tokenless.finish() == 1
    assert tokenless.errors() == (
        "tidings listen: no API token: pass --token or set TIDINGS_TOKEN\n"
    )
