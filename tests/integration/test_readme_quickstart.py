"""The README's "Send your first webhook", followed literally by a slow reader.

The commands come from the README itself, so they cannot drift from what is tested:
the server is `make run`'s own command (read from `make -n`), each command of the
section runs as written in README order, with a pause between steps longer than the
first retry, and the receiver must print its `verified msg_...` line within 10 s of
the last command. Only what a test cannot do as written is changed: free ports
instead of 3000 and 8040 (`--port`, `--server`, `--url` added to the examples), a
temporary database, and `make` targets dry-run instead of run.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness import clean_environment
from tidings.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# How long the reader takes between steps: longer than the first retry (5 s, +20 %
# jitter), so a receiver started after the first attempt would miss it and the retry.
READER_PAUSE = 7.0
PROMISE = 10.0  # the receiver's line is due this long after the last command
STEP_TIMEOUT = 60.0
PLACEHOLDER = re.compile(r"<([^<>]+)>")


def section(markdown: str, title: str) -> str:
    """The text under the heading `title`, up to the next heading of its level or above."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", markdown, re.MULTILINE)
    assert match, f"README has no {title!r} section"
    level = len(match.group(1))
    rest = markdown[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def sh_commands(text: str) -> list[str]:
    """The command lines of the ```sh blocks in `text`, comments and blanks left out."""
    blocks = re.findall(r"^```sh\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    lines = (line.split(" #", 1)[0].strip() for block in blocks for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def make_dry_run(target: str) -> list[str]:
    """The commands `make TARGET` runs from scratch, without running them."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"`make {target}` is not a target:\n{done.stderr}"
    return done.stdout.splitlines()


def with_option(argv: list[str], flag: str, value: str) -> list[str]:
    """`argv` with `flag value`, replacing the value the README gave, if any."""
    if flag in argv:
        at = argv.index(flag)
        return [*argv[: at + 1], value, *argv[at + 2 :]]
    return [*argv, flag, value]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 204)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@dataclass
class Step:
    """A command of the README, running or run, with what it printed."""

    line: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    script: str | None = None  # the example it runs

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        if self.process.poll() is None:
            return True
        if self.ended is None:
            self.ended = time.monotonic()
        return False


class Reader:
    """Runs the README's commands as a reader would, in terminals of their own."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server_port = free_port()
        self.receiver_port = free_port()
        self.env = clean_environment(
            {"TIDINGS_DATABASE_URL": f"sqlite:///{workdir / 'tidings.db'}"}
        )
        self.steps: list[Step] = []
        self.values: dict[str, str] = {}  # placeholder -> what an earlier step printed
        self.installed: set[str] = set()  # requirement files the make targets install

    def start(self, line: str, argv: list[str], cwd: Path) -> Step:
        log = self.workdir / f"step-{len(self.steps)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                argv, cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        step = Step(line, process, log)
        self.steps.append(step)
        return step

    def make_run(self, line: str) -> Step:
        """`make run`'s serving command, on a free port, over a temporary database."""
        assert line == "make run", f"the quickstart starts Tidings with {line!r}"
        commands = self.dry_run_make("run")
        serve = [shlex.split(c) for c in commands if re.search(r"(^|/)tidings serve\b", c)]
        assert len(serve) == 1, f"`make run` does not run `tidings serve`: {commands}"
        args = serve[0][1:]  # after .venv/bin/tidings
        argv = [
            sys.executable,
            "-m",
            "tidings",
            *with_option(args, "--port", str(self.server_port)),
        ]
        step = self.start(line, argv, cwd=self.workdir)
        printed = self.wait_for(step, r"admin API token.*?\n\s*\n\s*(\S+)\n", "the admin token")
        self.values["admin token"] = printed
        health = f"http://127.0.0.1:{self.server_port}/api/v1/health"
        deadline = time.monotonic() + STEP_TIMEOUT
        while not answers(health):
            assert step.running(), f"`{line}` exited:\n{step.output()}"
            assert time.monotonic() < deadline, f"`{line}` never answered:\n{step.output()}"
            time.sleep(0.05)
        return step

    def dry_run_make(self, target: str) -> list[str]:
        commands = make_dry_run(target)
        for command in commands:
            self.installed.update(re.findall(r"(?:^|\s)-r\s+(\S+)", command))
        return commands

    def wait_for(self, step: Step, pattern: str, what: str) -> str:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(pattern, step.output(), re.DOTALL)
            if found:
                return found.group(found.lastindex or 0)
            assert step.running(), f"`{step.line}` exited before {what}:\n{step.output()}"
            time.sleep(0.05)
        raise AssertionError(f"`{step.line}` showed no {what}:\n{step.output()}")

    def run(self, line: str) -> Step | None:
        """Start one command of the section as written, but for ports and the database."""
        if line.startswith("make "):
            for target in line.split()[1:]:
                self.dry_run_make(target)
            return None
        for name in PLACEHOLDER.findall(line):
            assert name in self.values, f"`{line}` needs <{name}>, which no earlier step printed"
            line = line.replace(f"<{name}>", self.values[name])
        program, *args = shlex.split(line)
        assert program == ".venv/bin/python", f"the README runs {program!r}; teach this test"
        assert args and args[0].startswith("examples/"), f"the README runs {line!r}"
        script = args[0]
        if script == "examples/receiver.py":
            args = with_option(args, "--port", str(self.receiver_port))
        elif script == "examples/send.py":
            args = with_option(args, "--server", f"http://127.0.0.1:{self.server_port}")
            args = with_option(args, "--url", f"http://127.0.0.1:{self.receiver_port}/webhook")
        step = self.start(line, [sys.executable, *args], cwd=ROOT)
        step.script = script
        return step

    def finish(self, step: Step) -> None:
        """Let a command end, if it ends at all, and note the `name: value` it printed."""
        deadline = step.started + READER_PAUSE
        while step.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not step.running():
            assert step.process.returncode == 0, f"`{step.line}` failed:\n{step.output()}"
        for name, value in re.findall(r"^([a-z][a-z ]*): (\S+)$", step.output(), re.MULTILINE):
            self.values.setdefault(name, value)

    def stop_all(self) -> None:
        for step in reversed(self.steps):
            if step.running():
                step.process.terminate()
                try:
                    step.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    step.process.kill()
                    step.process.wait()


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    made = Reader(tmp_path)
    try:
        yield made
    finally:
        made.stop_all()


def third_party_imports(script: Path) -> set[str]:
    """The distributions `script` imports that Python does not ship."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    outside = modules - set(sys.stdlib_module_names) - {"__future__"}
    distributions = importlib.metadata.packages_distributions()
    return {distributions[module][0] for module in outside}


def pinned(requirements: Path) -> set[str]:
    names = re.findall(r"^([A-Za-z0-9_.-]+)==", requirements.read_text(), re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower() for name in names}


def test_send_your_first_webhook_as_written(reader: Reader) -> None:
    markdown = README.read_text()
    serve = [c for c in sh_commands(section(markdown, "Quickstart")) if c.startswith("make run")]
    assert len(serve) == 1, "the Quickstart no longer starts Tidings with one `make run`"
    send_first = section(markdown, "Send your first webhook")
    assert "Leave `make run` going" in send_first
    commands = sh_commands(send_first)
    assert commands, "the section has no commands"
    promise = re.search(r"`(verified [^`]+)`", send_first)
    assert promise, "the section no longer says what the receiver prints"
    expected = re.escape(promise.group(1)).replace(re.escape("..."), ".+")

    reader.finish(reader.make_run(serve[0]))
    last: Step | None = None
    for number, line in enumerate(commands, 1):
        step = reader.run(line)
        if step is None:
            continue
        if number < len(commands):
            reader.finish(step)
            time.sleep(max(0.0, step.started + READER_PAUSE - time.monotonic()))
        last = step
    assert last is not None, "the section starts no process"

    def delivered() -> list[str]:
        lines = (line for step in reader.steps for line in step.output().splitlines())
        return [line for line in lines if re.fullmatch(expected, line)]

    # The promise runs from the end of the last command, or from its start if it is
    # still running by then (a receiver started last, say).
    while not delivered():
        last.running()
        if time.monotonic() > (last.ended or last.started) + PROMISE:
            break
        time.sleep(0.05)
    outputs = "\n".join(f"$ {step.line}\n{step.output()}" for step in reader.steps[1:])
    if not last.running():
        assert last.process.returncode == 0, f"`{last.line}` failed:\n{outputs}"
    assert delivered(), f"nothing like `{promise.group(1)}` {PROMISE:.0f} s on:\n{outputs}"
    sent = re.findall(r"\bmsg_\w+", last.output())
    if sent:
        assert any(sent[-1] in line for line in delivered()), outputs

    # What the section's commands use is in .venv once its `make` targets have run.
    scripts = {step.script for step in reader.steps if step.script}
    needed = set().union(*(third_party_imports(ROOT / script) for script in scripts))
    have = set().union(*(pinned(ROOT / requirements) for requirements in reader.installed))
    missing = {name for name in needed if re.sub(r"[-_.]+", "-", name).lower() not in have}
    assert not missing, f"`make run` and the README's make commands do not install {missing}"
