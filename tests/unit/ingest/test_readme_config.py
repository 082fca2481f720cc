"""The config files the README shows are valid: they load as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tidings.ingest.actions.command import CommandAction
from tidings.ingest.config_file import load

README = Path(__file__).resolve().parents[3] / "README.md"


def toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_shows_both_examples() -> None:
    blocks = toml_blocks()
    assert any('type = "github"' in b and "command = " in b for b in blocks)
    assert any('type = "stripe"' in b and "forward = " in b for b in blocks)


@pytest.mark.parametrize("block", toml_blocks())
def test_each_readme_config_loads(
    block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GITHUB_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "whsec_readme")
    monkeypatch.setenv("BILLING_WHSEC", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    deploy = tmp_path / "deploy.sh"
    deploy.write_text("#!/bin/sh\n")
    deploy.chmod(0o755)
    path = tmp_path / "tidings.toml"
    path.write_text(block)
    config = load(path)
    assert config.sources
    for source in config.sources:
        for action in source.actions:
            assert isinstance(action, CommandAction)
