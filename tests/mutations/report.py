"""The mutation score of the last `mutmut run`, with every survivor explained or flagged.

    python -m tests.mutations.report [--markdown]

Reads mutmut's results in `mutants/` (after `mutmut run`), counts killed mutants
(a timeout counts as killed: the tests noticed), and sorts every mutant that was not
killed into one of two piles:

- equivalent: it cannot change what the code does, for a reason given here, either
  by a rule (e.g. SQL and sqlite3.Row keys ignore case) or by name in EQUIVALENT;
- unexplained: a gap in the tests, or a reason not yet written down.

The score is killed / (all - equivalent). Exit status 1 when it is below 90 %.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.mutations.equivalent import EQUIVALENT

MUTANTS = Path("mutants")
KILLED_CODES = {1, 3, 36, -24, 24, 152, 255}  # failed tests, or a timeout
TARGET = 0.90


@dataclass(frozen=True)
class Survivor:
    name: str
    status: str
    removed: tuple[str, ...]
    added: tuple[str, ...]

    @property
    def function(self) -> str:
        return self.name.split("__mutmut_")[0]

    @property
    def change(self) -> str:
        before = " / ".join(line.strip() for line in self.removed)
        after = " / ".join(line.strip() for line in self.added)
        return f"{before}  ->  {after}"


def _exit_codes() -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for meta in MUTANTS.rglob("*.meta"):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def _diff(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    shown = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name], capture_output=True, text=True
    ).stdout
    lines = [line for line in shown.splitlines() if not line.startswith(("+++", "---"))]
    removed = tuple(line[1:] for line in lines if line.startswith("-"))
    added = tuple(line[1:] for line in lines if line.startswith("+"))
    return removed, added


def _matches(survivor: Survivor, function: str, piece: str) -> bool:
    """`piece` is a piece of an added line, or "removed -> added" where an added line
    alone is ambiguous (an argument per line, each mutated to None)."""
    if not survivor.function.endswith(function):
        return False
    removed, arrow, added = piece.rpartition(" -> ")
    if arrow and not any(removed in line for line in survivor.removed):
        return False
    return any(added in line for line in survivor.added)


def why_equivalent(survivor: Survivor) -> str | None:
    """The reason a survivor cannot change behaviour, or None."""
    for (function, piece), reason in EQUIVALENT.items():
        if _matches(survivor, function, piece):
            return reason
    before, after = "\n".join(survivor.removed), "\n".join(survivor.added)
    if ".storage." in survivor.name and before != after and before.lower() == after.lower():
        return "only the case of SQL or of a sqlite3.Row key changed; both ignore case"
    if re.search(r"\blog\.(debug|info|warning|error|exception)\(", before):
        return "the words or arguments of a log line (logging never raises on them)"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the survivors' table")
    args = parser.parse_args()
    codes = _exit_codes()
    if not codes:
        raise SystemExit("no results in mutants/: run `mutmut run` first")
    killed = sum(1 for code in codes.values() if code in KILLED_CODES)
    unchecked = sum(1 for code in codes.values() if code is None)
    survivors = []
    for name, code in sorted(codes.items()):
        if code in KILLED_CODES or code is None:
            continue
        status = "no tests" if code in (5, 33) else "survived"
        survivors.append(Survivor(name, status, *_diff(name)))
    explained = [(s, why_equivalent(s)) for s in survivors]
    equivalent = [(s, why) for s, why in explained if why]
    unexplained = [s for s, why in explained if not why]
    counted = len(codes) - unchecked - len(equivalent)
    score = killed / counted if counted else 0.0
    print(
        f"mutants: {len(codes)}, not checked: {unchecked}, killed: {killed}, "
        f"equivalent: {len(equivalent)}, unexplained survivors: {len(unexplained)}"
    )
    print(f"score: {killed} / {counted} = {score:.1%} (target {TARGET:.0%})")
    reasons = Counter(why for _, why in equivalent)
    for why, count in reasons.most_common():
        print(f"  equivalent x{count}: {why}")
    for survivor in unexplained:
        print(f"UNEXPLAINED {survivor.status}: {survivor.name}\n    {survivor.change}")
    for function, piece in EQUIVALENT:
        if not any(_matches(survivor, function, piece) for survivor in survivors):
            print(f"unused rule (nothing it explains survived): {function}: {piece}")
    if args.markdown:
        print("\n| mutant | change | why it is equivalent |\n|---|---|---|")
        for survivor, why in equivalent:
            print(f"| `{survivor.name}` | `{survivor.change}` | {why} |")
    return 0 if score >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
