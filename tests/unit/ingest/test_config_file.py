"""Reading the config file: what it declares, and errors that name their place."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tidings.ingest.actions.command import CommandAction
from tidings.ingest.actions.python_call import PythonAction
from tidings.ingest.config_file import ConfigError, load

GOOD = """
[[source]]
uid = "deploys"
type = "github"
secrets = ["${TEST_GH_SECRET}", "old-secret"]
forward_headers = ["X-GitHub-Event"]
token = "pinned-token-0123456789abcdef"

  [[source.action]]
  name = "deploy"
  command = ["./deploy.sh", "{payload.ref}"]
  env = { EVENT = "{header.x-github-event}" }
  match = { "header.x-github-event" = "push" }
  timeout = 30
  serial = true

  [[source.action]]
  name = "record"
  python = "handlers_for_test:record"
  concurrency = 2

  [[source.action]]
  name = "mirror"
  forward = "https://mirror.example.com/hooks"

[[source]]
uid = "payments"
type = "stripe"
secret = "whsec_abc"
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "deploy.sh").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "deploy.sh").chmod(0o755)
    (tmp_path / "handlers_for_test.py").write_text("def record(event):\n    return 'ok'\n")
    path = tmp_path / "tidings.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_file_declares_sources_actions_and_forwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_GH_SECRET", "from-env")
    config = load(write(tmp_path, GOOD))
    deploys, payments = config.sources
    assert (deploys.uid, deploys.type, deploys.token) == (
        "deploys",
        "github",
        "pinned-token-0123456789abcdef",
    )
    assert deploys.config == {
        "secrets": ["from-env", "old-secret"],
        "forwardHeaders": ["x-github-event"],
    }
    assert payments.config == {"secrets": ["whsec_abc"]} and payments.token is None
    deploy = config.action("deploys", "deploy")
    assert isinstance(deploy, CommandAction)
    assert deploy.argv[0].source == str(tmp_path / "deploy.sh")
    assert (deploy.limits.cap, deploy.limits.timeout, deploy.cwd) == (1, 30.0, str(tmp_path))
    record = config.action("deploys", "record")
    assert isinstance(record, PythonAction) and record.limits.cap == 2
    assert record.function.__name__ == "record"
    assert [f.url for f in deploys.forwards] == ["https://mirror.example.com/hooks"]
    assert config.action("deploys", "mirror") is None  # a forward is an endpoint, not an action


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('uid = "deploys"', 'uid = "no spaces"'), "source[0].uid: use 1-256"),
        (('type = "github"', 'type = "gitbucket"'), "source[0].type: unknown source type"),
        (("secrets = [", "secretz = ["), "source[0].secretz: unknown key"),
        (("timeout = 30", "timeout = -1"), "source[0].action[0].timeout: must be a positive"),
        (("timeout = 30", 'timeout = "30s"'), "source[0].action[0].timeout: must be a number"),
        (("serial = true", "serial = 1"), "source[0].action[0].serial: must be true or false"),
        (("./deploy.sh", "./missing.sh"), "source[0].action[0].command[0]: './missing.sh' is not"),
        (("{payload.ref}", "{payload.ref"), "source[0].action[0].command[1]: unbalanced"),
        (
            ("{header.x-github-event}", "{headers.x}"),
            "source[0].action[0].env.EVENT: unknown field",
        ),
        (("EVENT =", "1BAD ="), "source[0].action[0].env.1BAD: is not a valid environment"),
        (
            ("handlers_for_test:record", "handlers_for_test:nope"),
            "source[0].action[1].python: 'handlers_for_test' has no attribute 'nope'",
        ),
        (
            ("handlers_for_test:record", "no_such_module_x:f"),
            "source[0].action[1].python: cannot import 'no_such_module_x'",
        ),
        (("concurrency = 2", "concurrency = 1.5"), "source[0].action[1].concurrency"),
        (('name = "record"', 'name = "deploy"'), "action name 'deploy' is declared twice"),
        (("https://mirror", "ftp://mirror"), "source[0].action[2].forward: must be an http"),
        (("pinned-token-0123456789abcdef", "short"), "source[0].token: use at least 24"),
        (
            ("${TEST_GH_SECRET}", "${TEST_UNSET_VARIABLE}"),
            "environment variable TEST_UNSET_VARIABLE is not set",
        ),
        (('uid = "payments"', 'uid = "deploys"'), "source uid 'deploys' is declared twice"),
        (('secret = "whsec_abc"', "secret = 7"), "source[1].config: stripe: every secret"),
    ],
)
def test_mistakes_name_their_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str], problem: str
) -> None:
    monkeypatch.setenv("TEST_GH_SECRET", "from-env")
    assert change[0] in GOOD
    with pytest.raises(ConfigError) as refused:
        load(write(tmp_path, GOOD.replace(change[0], change[1], 1)))
    assert problem in str(refused.value)


def test_action_kinds_are_exclusive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_GH_SECRET", "from-env")
    both = 'python = "handlers_for_test:record"\n  command = ["./deploy.sh"]'
    text = GOOD.replace('python = "handlers_for_test:record"', both)
    with pytest.raises(ConfigError, match=r"action\[1\]: give exactly one of command"):
        load(write(tmp_path, text))


def test_unreadable_and_malformed_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[[source]\nuid="))
