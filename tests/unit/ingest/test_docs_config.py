"""The config files the README and docs/ show are valid: they load as written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tidings.ingest.actions.command import CommandAction
from tidings.ingest.config_file import load

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The README held this many ```toml blocks, all config files, before its detail
# moved to docs/; none may get lost.
CONFIGS_BEFORE_THE_MOVE = 2


def toml_blocks() -> list[tuple[str, str]]:
    """(where, text) of every ```toml block of the README and docs/*.md."""
    found = []
    for doc in DOCS:
        blocks = re.findall(r"```toml\n(.*?)```", doc.read_text(), flags=re.DOTALL)
        found += [(f"{doc.relative_to(ROOT)}#{i}", block) for i, block in enumerate(blocks)]
    return found


def config_blocks() -> list[tuple[str, str]]:
    """The blocks that are Tidings config files (other TOML, e.g. pyproject's, is not)."""
    return [(where, block) for where, block in toml_blocks() if "source" in tomllib.loads(block)]


def test_no_config_example_was_lost() -> None:
    assert len(config_blocks()) >= CONFIGS_BEFORE_THE_MOVE


def test_the_docs_show_both_examples() -> None:
    blocks = [block for _, block in config_blocks()]
    assert any('type = "github"' in b and "command = " in b for b in blocks)
    assert any('type = "stripe"' in b and "forward = " in b for b in blocks)


@pytest.mark.parametrize("block", [b for _, b in toml_blocks()], ids=[w for w, _ in toml_blocks()])
def test_each_toml_block_parses(block: str) -> None:
    tomllib.loads(block)


@pytest.mark.parametrize(
    "block", [b for _, b in config_blocks()], ids=[w for w, _ in config_blocks()]
)
def test_each_config_shown_loads(
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
