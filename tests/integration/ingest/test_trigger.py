"""`tidings trigger` against the real server: each signed sample is verified by a
source, stored, and forwarded; a wrong secret is refused and the CLI says why."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
import standardwebhooks
from svix.api import IngestEndpointIn, IngestSourceIn, Svix
from svix.models import GithubConfig, SlackConfig, StripeConfig

from tests.harness import ServerProcess, clean_environment
from tidings.cli.main import main
from tidings.ingest.verify import SOURCE_TYPES
from tidings.testing import Receiver

GITHUB_SECRET = "gh-webhook-secret"
STRIPE_SECRET = "whsec_" + "t" * 32
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TWILIO_TOKEN = "12345678901234567890123456789012"


def trigger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidings", "trigger", *args],
        env=clean_environment(env or {}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def answer_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON body the source answered with: the last line printed."""
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[1] == "200 OK"
    parsed: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return parsed


def create_source(
    client: Svix, server: ServerProcess, source_type: str, config: Any
) -> tuple[str, str]:
    """Through the SDK where it has a model for the type's config, else over HTTP."""
    if isinstance(config, dict):
        created = httpx.post(
            f"{server.url}/ingest/api/v1/source",
            json={"name": source_type, "type": source_type, "config": config},
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        return created.json()["id"], created.json()["ingestUrl"]
    source = client.ingest.source.create(
        IngestSourceIn(name=source_type, type=source_type, config=config)
    )
    assert source.ingest_url is not None
    return source.id, source.ingest_url


def forward_to(client: Svix, source_id: str, receiver: Receiver, path: str) -> str:
    endpoint = client.ingest.endpoint.create(source_id, IngestEndpointIn(url=receiver.url(path)))
    return client.ingest.endpoint.get_secret(source_id, endpoint.id).key


@pytest.mark.parametrize(
    ("source_type", "config", "secret", "event"),
    [
        ("github", GithubConfig(secret=GITHUB_SECRET), GITHUB_SECRET, "push"),
        ("stripe", StripeConfig(secret=STRIPE_SECRET), STRIPE_SECRET, "invoice.paid"),
        ("slack", SlackConfig(secret=SLACK_SECRET), SLACK_SECRET, "app_mention"),
        ("twilio", {"secret": TWILIO_TOKEN}, TWILIO_TOKEN, "sms"),
    ],
)
def test_triggered_event_is_verified_stored_and_forwarded(
    client: Svix,
    server: ServerProcess,
    receiver: Receiver,
    source_type: str,
    config: Any,
    secret: str,
    event: str,
) -> None:
    source_id, url = create_source(client, server, source_type, config)
    forward_secret = forward_to(client, source_id, receiver, f"/{source_type}")
    done = trigger(source_type, event, "--to", url, "--secret", secret)
    answer = answer_of(done)
    assert answer["duplicate"] is False
    stored = server.get_json(f"/ingest/api/v1/source/{source_id}/msg/{answer['id']}")
    [forwarded] = receiver.wait_for(1, f"/{source_type}")
    standardwebhooks.Webhook(forward_secret).verify(
        forwarded.body, forwarded.headers, json_parse=False
    )
    if source_type == "twilio":  # a form body reads back as raw text
        assert "SmsStatus=received" in stored["payload"]["rawBody"]
        assert b"SmsStatus=received" in forwarded.body
    else:
        assert json.loads(forwarded.body) == stored["payload"]


def test_each_send_is_a_new_event_and_the_secret_may_come_from_the_environment(
    client: Svix, server: ServerProcess
) -> None:
    source_id, url = create_source(client, server, "stripe", StripeConfig(secret=STRIPE_SECRET))
    env = {"TIDINGS_TRIGGER_SECRET": STRIPE_SECRET}
    first = answer_of(trigger("stripe", "--to", url, env=env))
    second = answer_of(trigger("stripe", "--to", url, env=env))
    assert first["id"] != second["id"]
    stored = server.get_json(f"/ingest/api/v1/source/{source_id}/msg")["data"]
    assert {msg["payload"]["type"] for msg in stored} == {"payment_intent.succeeded"}
    assert len({msg["payload"]["id"] for msg in stored}) == 2  # fresh evt_ ids


def test_slack_url_verification_gets_its_challenge_and_is_not_stored(
    client: Svix, server: ServerProcess
) -> None:
    source_id, url = create_source(client, server, "slack", SlackConfig(secret=SLACK_SECRET))
    done = trigger("slack", "url_verification", "--to", url, "--secret", SLACK_SECRET)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "200 OK"
    assert len(done.stdout.splitlines()[2]) >= 40  # the echoed challenge
    assert server.get_json(f"/ingest/api/v1/source/{source_id}/msg")["data"] == []


def test_wrong_secret_exits_non_zero_and_prints_the_401_reason(
    client: Svix, server: ServerProcess
) -> None:
    source_id, url = create_source(client, server, "github", GithubConfig(secret=GITHUB_SECRET))
    done = trigger("github", "ping", "--to", url, "--secret", "not-the-secret")
    assert done.returncode == 1
    assert "401 Unauthorized" in done.stdout
    assert "bad signature: X-Hub-Signature-256 does not match" in done.stdout
    assert "Traceback" not in done.stderr
    rejections = server.get_json(f"/ingest/api/v1/source/{source_id}/rejections")["data"]
    assert [r["reason"] for r in rejections] == ["bad signature"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("cron", "--to", "http://127.0.0.1:9/"), "unknown source type 'cron'"),
        (("github", "pushed", "--to", "http://127.0.0.1:9/", "--secret", "s"), "no sample event"),
        (("github", "--to", "http://127.0.0.1:9/"), "--secret or TIDINGS_TRIGGER_SECRET"),
        (("github", "--secret", "s"), "--to URL is required"),
        (("github", "--to", "ftp://x", "--secret", "s"), "http:// or https:// URL"),
        (("hmac", "--to", "http://127.0.0.1:9/", "--secret", "s"), "hmac needs --header"),
        ((), "name a source type"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    args: tuple[str, ...], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Through the real entry point, in this process (a subprocess per case is slow).
    with pytest.raises(SystemExit) as exited:
        main(["trigger", *args])
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


def test_bad_input_prints_no_traceback_from_the_installed_command() -> None:
    done = trigger("nope", "--to", "http://127.0.0.1:9/", "--secret", "s")
    assert done.returncode == 2
    assert done.stderr.startswith("tidings trigger: unknown source type 'nope'; choose one of:")
    assert "Traceback" not in done.stderr


def test_unreachable_url_exits_1_without_a_traceback() -> None:
    done = trigger("github", "--to", "http://127.0.0.1:9/", "--secret", "s")
    assert done.returncode == 1
    assert "no answer from http://127.0.0.1:9/" in done.stderr
    assert "Traceback" not in done.stderr


def test_list_names_every_type_and_a_type_s_events() -> None:
    everything = trigger("--list")
    assert everything.returncode == 0
    assert "github             push, pull_request, ping, release" in everything.stdout
    assert len(everything.stdout.splitlines()) == len(SOURCE_TYPES)
    github = trigger("github", "--list")
    assert github.stdout.splitlines() == ["push (default)", "pull_request", "ping", "release"]
