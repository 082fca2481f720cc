"""Rewrite the settings table in docs/configuration.md from tidings.config (`make docs`)."""

from __future__ import annotations

import re
from pathlib import Path

from tidings.config import settings_table

CONFIGURATION = Path(__file__).parents[1] / "docs" / "configuration.md"
BLOCK = re.compile(r"(<!-- settings:start -->\n).*?(\n<!-- settings:end -->)", re.DOTALL)


def main() -> None:
    text = CONFIGURATION.read_text()
    updated, count = BLOCK.subn(lambda m: m.group(1) + settings_table() + m.group(2), text)
    if count != 1:
        raise SystemExit(f"{CONFIGURATION}: expected one settings block, found {count}")
    CONFIGURATION.write_text(updated)


if __name__ == "__main__":
    main()
