"""Programs started with vfork and watched from the loop: pipes, exits, signals, fds.

Every test runs on asyncio's own loop and on uvloop, which the server uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop

from tidings.domain.outcomes import Outcome
from tidings.ingest.actions import command, spawn
from tidings.ingest.actions.base import OUTPUT_CAP
from tidings.ingest.actions.command import run_process

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
MIB = 1024 * 1024


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_run(request: pytest.FixtureRequest) -> Runner:
    return asyncio.run if request.param == "asyncio" else uvloop.run


def sh(
    script: str, stdin: bytes | None = None, timeout: float = 10.0
) -> Coroutine[Any, Any, Outcome]:
    return run_process(["/bin/sh", "-c", script], ENV, stdin, "/", timeout)


def gone(pid: int) -> bool:
    """Not running: no such process, or a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_output_beyond_the_cap_is_read_to_the_end(loop_run: Runner) -> None:
    # 4 MiB on each stream at once: if either pipe were not drained the program
    # would block on it forever.
    script = "head -c 4194304 /dev/zero >&2 & head -c 4194304 /dev/zero; wait"
    chunks: dict[str, int] = {"stdout": 0, "stderr": 0}
    output = command._Output()

    def capture(name: str, chunk: bytes) -> None:
        chunks[name] += len(chunk)
        output.add(name, chunk)

    async def main() -> tuple[int, Outcome]:
        child = spawn.start(["/bin/sh", "-c", script], ENV, "/", None, capture)
        try:
            code = await asyncio.wait_for(child.wait(), 10)
            await child.drain(5)
        finally:
            child.close()
        return code, await asyncio.wait_for(sh(script), 10)

    code, outcome = loop_run(main())
    assert code == 0
    assert chunks == {"stdout": 4 * MIB, "stderr": 4 * MIB}
    kept = OUTPUT_CAP // 2
    assert output.text() == (
        "\0" * kept
        + "\n--- stderr ---\n"
        + "\0" * kept
        + f"\n[… {8 * MIB - 2 * kept} more bytes of output not kept]"
    )
    assert outcome.succeeded
    assert outcome.response.startswith("\0" * kept + "\n--- stderr ---\n\0")


def test_stdin_of_a_mebibyte_is_received_whole(loop_run: Runner) -> None:
    body = bytes(range(256)) * (4 * 1024)  # 1 MiB, far above a pipe's 64 KiB
    reader = "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
    outcome = loop_run(run_process([sys.executable, "-c", reader], ENV, body, "/", 10))
    assert outcome.succeeded
    assert outcome.response == hashlib.sha256(body).hexdigest() + "\n"
    assert loop_run(sh("wc -c", b"x" * MIB)).response.strip() == str(MIB)


def test_a_program_that_never_reads_stdin_is_not_an_error(loop_run: Runner) -> None:
    big = b"y" * MIB
    scripts = [
        "exit 0",  # gone before the first write, likely
        "sleep 0.2; echo done",  # exits with the pipe full and the writer waiting
        "exec 0<&-; sleep 0.2; echo done",  # closes stdin, then carries on
        "head -c 100 >/dev/null; echo done",  # reads a little
    ]

    async def main() -> list[Outcome]:
        return list(await asyncio.gather(*(sh(s, big) for s in scripts * 5)))

    outcomes = loop_run(main())
    assert [(o.succeeded, o.error) for o in outcomes] == [(True, None)] * len(outcomes)
    assert {o.response for o in outcomes} == {"", "done\n"}


def test_a_timeout_kills_the_grandchildren_too(loop_run: Runner) -> None:
    # The grandchild sits in the background holding the pipes; the leader ignores
    # SIGTERM, so SIGKILL follows after the grace.
    script = "trap '' TERM; sleep 30 & echo $!; sleep 30"
    started = time.monotonic()
    outcome = loop_run(sh(script, timeout=0.3))
    assert time.monotonic() - started < command.KILL_GRACE_SECONDS + 3
    assert (outcome.succeeded, outcome.status_code) == (False, 0)
    assert outcome.error == "killed after the 0.3s timeout"
    grandchild = int(outcome.response)
    deadline = time.monotonic() + 3
    while not gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(grandchild)


def test_a_kill_signal_is_the_exit_reason(loop_run: Runner) -> None:
    outcome = loop_run(sh("echo bye; kill -KILL $$"))
    assert (outcome.succeeded, outcome.error, outcome.response) == (
        False,
        "killed by SIGKILL",
        "bye\n",
    )
    assert loop_run(sh("exit 3")).error == "exited with status 3"


def test_cancelling_kills_the_program_and_reaps_it(loop_run: Runner, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async def main() -> None:
        task = asyncio.create_task(
            sh(f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 30", b"x" * MIB)
        )
        for _ in range(500):
            if pidfile.exists():
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    loop_run(main())
    assert time.monotonic() - started < 5
    pid = int(pidfile.read_text())
    with pytest.raises(ChildProcessError):  # reaped already: not even a zombie of ours
        os.waitpid(pid, os.WNOHANG)
    assert not Path(f"/proc/{pid}").exists()


def test_no_descriptor_is_left_open(loop_run: Runner, tmp_path: Path) -> None:
    async def cancelled() -> None:
        task = asyncio.create_task(sh("sleep 30", b"x" * MIB))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def main() -> tuple[int, int]:
        await sh("true")  # whatever the loop opens once, it has opened now
        before = open_fds()
        for _ in range(5):
            await asyncio.gather(
                sh("echo out; echo err >&2"),
                sh("exit 4", b"z" * MIB),
                sh("wc -c", b"z" * MIB),
                sh("sleep 30 & sleep 30", timeout=0.1),  # the grandchild holds the pipes
                run_process([str(tmp_path / "missing")], ENV, None, "/", 10),
                cancelled(),
            )
        return before, open_fds()

    before, after = loop_run(main())
    assert after == before


def test_a_program_that_cannot_start_fails_clearly(loop_run: Runner, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    outcome = loop_run(run_process([missing], ENV, b"body", "/", 10))
    assert (outcome.succeeded, outcome.status_code) == (False, 0)
    assert (
        outcome.error
        == f"could not start {missing!r}: [Errno 2] No such file or directory: {missing!r}"
    )
    not_executable = tmp_path / "script.sh"
    not_executable.write_text("#!/bin/sh\n")
    outcome = loop_run(run_process([str(not_executable)], ENV, None, "/", 10))
    assert (outcome.succeeded, outcome.status_code) == (False, 0)
    assert "could not start" in (outcome.error or "") and "Permission denied" in (
        outcome.error or ""
    )


def test_without_pidfd_open_a_thread_waits_instead(
    loop_run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", unavailable)
    assert loop_run(sh("echo hi; exit 2")).error == "exited with status 2"
    outcome = loop_run(sh("sleep 30", timeout=0.2))
    assert outcome.error == "killed after the 0.2s timeout"


def test_a_program_leads_its_own_group_in_the_workers_session_unless_on_a_terminal(
    loop_run: Runner,
) -> None:
    # proc(5) stat fields after the command: pid is field 1, pgrp field 5, session 6.
    outcome = loop_run(sh('read -r stat < /proc/self/stat; echo "$$ ${stat##*) }"'))
    pid, fields = outcome.response.split(" ", 1)
    pgrp, session = fields.split()[2:4]
    assert pgrp == pid  # killing the group reaches everything it started
    if spawn._has_terminal():
        assert session == pid  # no terminal to stop on
    else:
        assert int(session) == os.getsid(0)  # the worker's session: its CPU priority
