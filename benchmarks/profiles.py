"""Summarise py-spy raw (collapsed) stacks: `python -m benchmarks.profiles FILE...`.

For each file: the frames with the most samples at the top of the stack (self
time) and the frames on the stack most often (inclusive time), line numbers dropped.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE_NUMBER = re.compile(r":\d+\)$")
# With --threads, py-spy puts `thread (TID): NAME` first on each stack; with
# --subprocesses, `process PID:"COMMAND"` before that.
_THREAD = re.compile(r"^thread \(\d+\): ")
_PROCESS = re.compile(r"^process \d+:")


def _frame(text: str) -> str:
    return _LINE_NUMBER.sub(")", text.strip())


Stack = tuple[str, list[str], int]  # thread name, frames (outermost first), samples


def load(path: Path) -> list[Stack]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        while frames and _PROCESS.match(frames[0]):
            # A child's stacks name its parent first. The processes of one command
            # are alike, so they are tallied together.
            frames.pop(0)
        thread = "all"
        if frames and _THREAD.match(frames[0]):
            thread = _THREAD.sub("", frames.pop(0))
        stacks.append((thread, [_frame(f) for f in frames], int(count)))
    return stacks


def tallies(stacks: list[Stack]) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for thread, frames, count in stacks:
        threads[thread] += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return threads, own, inclusive, sum(count for _, _, count in stacks)


def summary(path: Path, top: int) -> str:
    threads, own, inclusive, total = tallies(load(path))
    lines = [f"## {path.name} ({total} samples)", "", "| thread | % of samples |", "|---|---:|"]
    lines += [f"| {name} | {100 * n / total:.1f} |" for name, n in threads.most_common()]
    lines += ["", "| self % | frame |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f} | `{frame}` |" for frame, n in own.most_common(top)]
    lines += ["", "| inclusive % | frame |", "|---:|---|"]
    lines += [
        f"| {100 * n / total:.1f} | `{frame}` |"
        for frame, n in inclusive.most_common(top * 3)
        if not frame.startswith(("_run_module_as_main", "_run_code", "<module>"))
    ][:top]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print("\n".join(summary(path, args.top) for path in args.files))


if __name__ == "__main__":
    main()
