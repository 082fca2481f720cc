"""Rewrite the README's settings table from tidings.config (run by `make docs`)."""

from __future__ import annotations

import re
from pathlib import Path

from tidings.config import settings_table

README = Path(__file__).parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- settings:start -->\n).*?(\n<!-- settings:end -->)", re.DOTALL)


def main() -> None:
    text = README.read_text()
    updated = BLOCK.sub(lambda m: m.group(1) + settings_table() + m.group(2), text)
    README.write_text(updated)


if __name__ == "__main__":
    main()
