"""Start a program cheaply and watch it from the event loop, without threads.

asyncio's subprocess API under uvloop forks the whole server, synchronously on
the event-loop thread: about 7 ms at 130 MB of memory, during which no request is
served. subprocess.Popen uses vfork instead (under 1 ms), as long as it is given
no preexec_fn and no user or group to switch to. The program's exit is then
watched through a pidfd and its pipes through the loop's readers and writers, so
a run holds no thread (a thread waits only where pidfd_open is missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import IO

# Called with "stdout" or "stderr" and each chunk read, in order; all output is
# read, whatever the callback keeps, so the program never blocks on a full pipe.
OnOutput = Callable[[str, bytes], None]

_CHUNK = 64 * 1024
# Reads per wake-up, so that a program writing non-stop cannot hog the loop.
_READS_PER_WAKEUP = 16


def start(
    argv: list[str], env: dict[str, str], cwd: str, stdin: bytes | None, on_output: OnOutput
) -> Child:
    """Start `argv` in a process group of its own, with `stdin` on its
    stdin (or /dev/null when None). Raises OSError if it cannot start."""
    terminal = _has_terminal()
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        # A process group of its own, so that killing it reaches grandchildren too.
        # Not a session of its own, which would escape the worker's CPU priority
        # where the kernel schedules sessions as groups (see cli/priority.py),
        # unless the worker has a terminal: in the worker's session a program that
        # asks the terminal for a password would stop until its timeout, while in
        # one of its own it has no terminal and fails at once.
        start_new_session=terminal,
        process_group=None if terminal else 0,
        close_fds=True,
        bufsize=0,
    )
    try:
        return Child(popen, stdin or b"", on_output)
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
        for pipe in (popen.stdin, popen.stdout, popen.stderr):
            if pipe is not None:
                pipe.close()
        raise


@functools.cache
def _has_terminal() -> bool:
    """Whether this process has a controlling terminal (it does not change)."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


class Child:
    """A started program: its exit, its stdin being written, its output being read."""

    def __init__(self, popen: subprocess.Popen[bytes], stdin: bytes, on_output: OnOutput) -> None:
        self._loop = asyncio.get_running_loop()
        self._popen = popen
        self._on_output = on_output
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._drained: asyncio.Future[None] = self._loop.create_future()
        self._pipes: dict[int, IO[bytes]] = {}  # still open, by fd
        self._reading: dict[int, str] = {}  # output pipes not yet at EOF
        self._unwritten = memoryview(stdin)
        self._writing = False
        for pipe in (popen.stdin, popen.stdout, popen.stderr):
            if pipe is not None:
                self._pipes[pipe.fileno()] = pipe
                os.set_blocking(pipe.fileno(), False)
        self._watch_exit()
        for pipe, name in ((popen.stdout, "stdout"), (popen.stderr, "stderr")):
            if pipe is not None:
                self._reading[pipe.fileno()] = name
                self._loop.add_reader(pipe.fileno(), self._on_readable, pipe.fileno())
        if popen.stdin is not None:
            self._on_writable(popen.stdin.fileno())
        if not self._reading:
            self._drained.set_result(None)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None until the program has exited and been reaped."""
        return self._popen.returncode

    async def wait(self) -> int:
        """The exit status, negative for a signal; cancelling the wait leaves the
        program be."""
        return await asyncio.shield(self._exited)

    def signal_group(self, sig: signal.Signals) -> None:
        """Signal the program's whole process group, grandchildren included."""
        if self._popen.returncode is not None:
            return  # reaped: its pid (and so its group id) may be someone else's now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    async def drain(self, grace: float) -> None:
        """Read the output still to come for at most `grace` seconds (a background
        grandchild may hold the pipes open), then close every pipe."""
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.shield(self._drained)
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading and writing and close every pipe; SIGKILL the group if the
        program is still running. Its exit is still watched: it is reaped when it
        dies, so no zombie is left."""
        self.signal_group(signal.SIGKILL)
        for fd in list(self._pipes):
            self._close(fd)

    def _watch_exit(self) -> None:
        try:
            pidfd = os.pidfd_open(self._popen.pid)
        except (OSError, AttributeError):
            # A thread of its own, not the loop's shared executor: many long-running
            # programs must not use up the threads other work needs.
            name = f"tidings-wait-{self._popen.pid}"
            threading.Thread(target=self._wait_in_thread, name=name, daemon=True).start()
            return
        self._loop.add_reader(pidfd, self._on_exit, pidfd)

    def _wait_in_thread(self) -> None:
        self._popen.wait()
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self._loop.call_soon_threadsafe(self._reaped)

    def _on_exit(self, pidfd: int) -> None:
        if self._popen.poll() is None:
            return
        self._loop.remove_reader(pidfd)
        os.close(pidfd)
        self._reaped()

    def _reaped(self) -> None:
        if not self._exited.done() and self._popen.returncode is not None:
            self._exited.set_result(self._popen.returncode)

    def _on_readable(self, fd: int) -> None:
        for _ in range(_READS_PER_WAKEUP):
            try:
                chunk = os.read(fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._close(fd)
                return
            self._on_output(self._reading[fd], chunk)

    def _on_writable(self, fd: int) -> None:
        try:
            while self._unwritten:
                written = os.write(fd, self._unwritten)
                self._unwritten = self._unwritten[written:]
        except BlockingIOError:
            if not self._writing:
                self._loop.add_writer(fd, self._on_writable, fd)
                self._writing = True
            return
        except (BrokenPipeError, ConnectionResetError):
            pass  # the program did not read (all of) its stdin: not an error
        except BaseException:
            self._close(fd)
            raise
        self._close(fd)

    def _close(self, fd: int) -> None:
        pipe = self._pipes.pop(fd, None)
        if pipe is None:
            return
        if self._reading.pop(fd, None) is not None:
            self._loop.remove_reader(fd)
            if not self._reading and not self._drained.done():
                self._drained.set_result(None)
        else:
            self._loop.remove_writer(fd)
            self._unwritten = memoryview(b"")
        pipe.close()
