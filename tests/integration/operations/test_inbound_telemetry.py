"""The receiving half's metrics and log lines, on the real server over SQLite and
PostgreSQL: each request at an ingest URL by verdict, each action run by outcome."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.ingest.test_actions import github, github_config, ingest_url
from tests.integration.ingest.test_sources import github_post
from tests.integration.operations.conftest import Start
from tests.integration.operations.scraping import scrape
from tests.integration.operations.test_logs import lines
from tests.waiting import eventually


def test_inbound_verdicts_and_action_runs(start: Start, tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(
        github_config(
            "deploys",
            """
          [[source.action]]
          name = "deploy"
          command = ["/bin/true"]

          [[source.action]]
          name = "refuse"
          command = ["/bin/false"]
    """,
        )
    )
    server = start(config=str(config), retry_schedule="0")
    url = ingest_url(server, "deploys")
    push = {"ref": "refs/heads/main"}
    assert github(url, push, delivery="d-1").status_code == 200
    assert github(url, push, delivery="d-1").json()["duplicate"] is True
    assert github_post(url, json.dumps(push).encode(), secret="wrong").status_code == 401

    found = eventually(
        lambda: scrape(server.url, server.token),
        lambda s: s.total("tidings_action_runs_total") == 2,
    )
    received = "tidings_inbound_received_total"
    assert found.value(received, source_type="github", verdict="accepted") == 1
    assert found.value(received, source_type="github", verdict="duplicate") == 1
    assert found.value(received, source_type="github", verdict="unverified") == 1
    runs = "tidings_action_runs_total"
    assert found.value(runs, kind="command", outcome="succeeded") == 1
    assert found.value(runs, kind="command", outcome="failed") == 1
    logged = lines(server)
    verdicts = [line["verdict"] for line in logged if line["event"] == "inbound"]
    assert sorted(verdicts) == ["accepted", "duplicate", "unverified"]
    (unverified,) = [line for line in logged if line.get("verdict") == "unverified"]
    assert unverified["source_type"] == "github" and unverified["reason"]
    ran = {line["action"]: line for line in logged if line["event"] == "action run"}
    assert (ran["deploy"]["outcome"], ran["refuse"]["outcome"]) == ("succeeded", "failed")
    assert ran["deploy"]["kind"] == "command"
