"""The command action: run a program for each event.

The program gets its arguments and environment variables from templates, and the
raw body on stdin. It runs in a process group of its own so that a timeout (or a
stopping worker) kills the whole group, grandchildren included. stdout and stderr
are captured up to a cap; the rest is read and dropped so the program never
blocks on a full pipe. A non-zero exit is a failed attempt, retried on schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

from tidings.domain.outcomes import Outcome
from tidings.ingest.actions import spawn
from tidings.ingest.actions.base import OUTPUT_CAP, Action, did_not_finish, finished
from tidings.ingest.actions.event import InboundWebhook
from tidings.ingest.actions.templates import Template

# Variables a program gets from Tidings' own environment unless told otherwise;
# anything else (database URLs, tokens) stays out unless `inherit_env` names it.
BASE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "TMPDIR")
# After SIGTERM, a program has this long to exit before SIGKILL.
KILL_GRACE_SECONDS = 2.0
# Once the program has exited, output still buffered is read for at most this
# long: a background grandchild may keep the pipes open indefinitely.
OUTPUT_GRACE_SECONDS = 0.5


@dataclass(frozen=True)
class CommandAction(Action):
    kind = "command"

    argv: tuple[Template, ...]
    env: Mapping[str, Template]
    inherit_env: tuple[str, ...]
    stdin: bool
    cwd: str
    # A value from the webhook may start an argument with "-" (an option to the
    # program) only when the config says so, or after a literal "--".
    allow_dash: bool = False

    @property
    def describe(self) -> str:
        return "command: " + " ".join(t.source for t in self.argv)

    async def run(self, event: InboundWebhook) -> Outcome:
        started = time.monotonic()
        argv = [template.render(event) for template in self.argv]
        env = self.environment(event)
        refused = self._refusal(argv, env)
        if refused is not None:
            return did_not_finish(refused, started)
        return await run_process(argv, env, self.stdin_bytes(event), self.cwd, self.limits.timeout)

    def _refusal(self, argv: list[str], env: dict[str, str]) -> str | None:
        """Why the rendered command must not run, if it must not."""
        options_end = False
        for index, (template, value) in enumerate(zip(self.argv, argv, strict=True)):
            if "\0" in value:
                return f"argument {index} would contain a NUL byte (from the webhook): not run"
            if template.source == "--":
                options_end = True
            led_by_value = bool(template.parts) and not isinstance(template.parts[0], str)
            if (
                index
                and led_by_value
                and value.startswith("-")
                and not (options_end or self.allow_dash)
            ):
                return (
                    f"argument {index} would start with '-' (from the webhook), which the "
                    "program could take for an option: not run; put a literal '--' before "
                    "it, or set allow_dash = true"
                )
        bad = next((name for name, value in env.items() if "\0" in value), None)
        if bad is not None:
            return f"variable {bad} would contain a NUL byte (from the webhook): not run"
        return None

    @functools.cached_property
    def _inherited(self) -> dict[str, str]:
        """What the program takes from Tidings' own environment, read at the
        action's first run: reading os.environ was a good part of what starting a
        program cost. A config reload builds new actions, which read it afresh; a
        change made meanwhile (a Python action may set os.environ) waits for one."""
        names = (*BASE_ENVIRONMENT, *self.inherit_env)
        return {name: os.environ[name] for name in names if name in os.environ}

    def environment(self, event: InboundWebhook) -> dict[str, str]:
        env = dict(self._inherited)
        env.update(
            TIDINGS_EVENT_ID=event.id,
            TIDINGS_SOURCE=event.source_uid or event.source_id,
            TIDINGS_SOURCE_TYPE=event.source_type,
            TIDINGS_DELIVERY_ID=event.delivery_id or "",
            TIDINGS_ATTEMPT=str(event.attempt),
        )
        env.update({name: template.render(event) for name, template in self.env.items()})
        return env

    def stdin_bytes(self, event: InboundWebhook) -> bytes | None:
        return event.body if self.stdin else None


async def run_process(
    argv: list[str], env: dict[str, str], stdin: bytes | None, cwd: str, limit_seconds: float
) -> Outcome:
    started = time.monotonic()
    output = _Output()
    try:
        child = spawn.start(argv, env, cwd, stdin, output.add)
    except OSError as exc:
        return did_not_finish(f"could not start {argv[0]!r}: {exc}", started)
    try:
        try:
            async with asyncio.timeout(limit_seconds):
                code = await child.wait()
        except TimeoutError:
            await _kill(child)
            await child.drain(OUTPUT_GRACE_SECONDS)
            reason = f"killed after the {limit_seconds:g}s timeout"
            return did_not_finish(reason, started, output.text())
        except BaseException:  # cancelled (the worker is stopping): leave nothing running
            await _kill(child)
            raise
        await child.drain(OUTPUT_GRACE_SECONDS)
    finally:
        child.close()  # whatever happened above: no pipe left open, no process left running
    if code == 0:
        return finished(True, output.text(), started)
    return finished(False, output.text(), started, _exit_reason(code))


async def _kill(child: spawn.Child) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        child.signal_group(sig)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(KILL_GRACE_SECONDS):
                await child.wait()
            return


def _exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with status {code}"


class _Output:
    """stdout, then stderr, each kept up to half of OUTPUT_CAP bytes."""

    def __init__(self) -> None:
        self._kept: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._dropped = 0

    def add(self, name: str, chunk: bytes) -> None:
        kept = self._kept[name]
        room = max(OUTPUT_CAP // 2 - len(kept), 0)
        kept += chunk[:room]
        self._dropped += max(len(chunk) - room, 0)

    def text(self) -> str:
        stdout, stderr = (
            bytes(self._kept[name]).decode("utf-8", errors="replace")
            for name in ("stdout", "stderr")
        )
        text = stdout + (f"\n--- stderr ---\n{stderr}" if stderr else "")
        if self._dropped:
            text += f"\n[… {self._dropped} more bytes of output not kept]"
        return text
