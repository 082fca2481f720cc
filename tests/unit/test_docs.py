from pathlib import Path

from tidings.config import settings_table

ROOT = Path(__file__).parents[2]


def test_the_configuration_doc_lists_the_current_settings() -> None:
    assert settings_table() in (ROOT / "docs" / "configuration.md").read_text()


def test_changelog_has_an_unreleased_section() -> None:
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
