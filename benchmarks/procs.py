"""Child processes that always get cleaned up: each runs in its own process group.

`Processes` is a registry: everything started through it is stopped (SIGTERM to
the whole group, then SIGKILL) when the registry closes, including on Ctrl-C or an
exception, so no receiver, worker or Celery child outlives the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


class ProcessFailed(RuntimeError):
    pass


class Process:
    """One child process (and its descendants), logging to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_at = time.time()
        return self

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_running(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise ProcessFailed(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")

    def wait(self, timeout: float) -> int:
        """Wait for a process that ends by itself; stop it if it overruns."""
        assert self.popen is not None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ProcessFailed(f"{self.name} did not finish within {timeout:g}s") from None

    def signal(self, signum: int) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the process group, then SIGKILL it if it has not exited in `timeout`."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait()
        # Children of the group (Celery's prefork pool) may outlive their parent.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.returncode

    def peak_rss_mb(self) -> float | None:
        """The peak resident sets (VmHWM) of the process and its live descendants
        (`tidings api --api-processes N` serves from children), read while it runs."""
        peaks = [_peak_rss_kb(pid) for pid in _tree(self.pid)]
        known = [peak for peak in peaks if peak is not None]
        return sum(known) / 1024 if known else None

    def cpu_s(self) -> float | None:
        """CPU time (user + system) the process, its live descendants and the children
        they have waited for have used so far, read while it runs."""
        times = [_cpu_s(pid) for pid in _tree(self.pid)]
        known = [time for time in times if time is not None]
        return sum(known) if known else None

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Processes:
    """Starts processes and guarantees they are stopped, newest first."""

    def __init__(self) -> None:
        self._started: list[Process] = []

    def start(self, process: Process) -> Process:
        self._started.append(process)
        return process.start()

    def stop(self, process: Process, timeout: float = 15.0) -> int | None:
        code = process.stop(timeout)
        if process in self._started:
            self._started.remove(process)
        return code

    def close(self) -> None:
        while self._started:
            self._started.pop().stop(timeout=5.0)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants that are alive now."""
    found, index = [pid], 0
    while index < len(found):
        parent = found[index]
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text()
            found += [int(child) for child in children.split()]
        index += 1
    return found


def _peak_rss_kb(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # utime, stime, cutime and cstime, fields 14-17 of proc(5), counted after the
    # command name: the last two are the children it has waited for (the programs a
    # command action runs), while live children are counted by the caller.
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def wait_until_http(url: str, process: Process, timeout: float = 30.0, status: int = 200) -> None:
    """Poll `url` until it answers `status`; fail at once if `process` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_running()
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == status:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise ProcessFailed(f"{process.name}: {url} not answering after {timeout:g}s\n{process.tail()}")


def wait_until_logged(text: str, process: Process, since: int = 0, timeout: float = 30.0) -> None:
    """Wait until `process` has written `text` to its log past byte `since` (where
    the log ended when it started); fail at once if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_running()
        if text.encode() in _read_from(process.log, since):
            return
        time.sleep(0.05)
    raise ProcessFailed(
        f"{process.name}: no {text!r} in its log after {timeout:g}s\n{process.tail()}"
    )


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _read_from(path: Path, offset: int) -> bytes:
    if not path.exists():
        return b""
    with open(path, "rb") as file:
        file.seek(offset)
        return file.read()


def python_module(module: str, *args: str) -> list[str]:
    return [PYTHON, "-m", module, *args]
