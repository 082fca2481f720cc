"""What every action shares: its limits, its match rules, and how a run is recorded.

A run is recorded like an HTTP attempt so that the attempts API, retries, replay
and the dashboard treat actions and forwards alike: a run that finished and
succeeded is recorded as 200, one that finished and failed (non-zero exit, an
exception) as 500 with the reason in the attempt's error, and one that never
finished (timed out, could not start) as 0, like a request that got no response.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import ClassVar

from tidings.domain.outcomes import Outcome
from tidings.ingest.actions.event import InboundWebhook
from tidings.ingest.actions.templates import Template

# Captured output kept per run (stdout and stderr together, or a traceback).
OUTPUT_CAP = 64 * 1024
SUCCEEDED = 200
FAILED = 500
DID_NOT_FINISH = 0


@dataclass(frozen=True)
class Limits:
    """Per worker process: at most `concurrency` runs at once (1 when `serial`);
    more wait in the queue, none are refused."""

    timeout: float = 60.0
    concurrency: int = 4
    serial: bool = False

    @property
    def cap(self) -> int:
        return 1 if self.serial else self.concurrency


@dataclass(frozen=True)
class Condition:
    """`field` must render to exactly `expected` for the action to run."""

    field: Template
    expected: str

    def mismatch(self, event: InboundWebhook) -> str | None:
        actual = self.field.render(event)
        if actual == self.expected:
            return None
        return f"{self.field.source} is {actual!r}, not {self.expected!r}"


@dataclass(frozen=True)
class Action(abc.ABC):
    # What runs: `command` or `python` (metrics and logs tell the kinds apart).
    kind: ClassVar[str]
    name: str
    limits: Limits
    # All must hold; an event that fails one is recorded as skipped (a success).
    match: tuple[Condition, ...]

    async def perform(self, event: InboundWebhook) -> Outcome:
        for condition in self.match:
            reason = condition.mismatch(event)
            if reason is not None:
                return finished(True, f"skipped: {reason}", time.monotonic())
        return await self.run(event)

    @abc.abstractmethod
    async def run(self, event: InboundWebhook) -> Outcome: ...

    @property
    @abc.abstractmethod
    def describe(self) -> str:
        """One line for logs and the endpoint's description."""


def finished(ok: bool, output: str, started: float, error: str | None = None) -> Outcome:
    return Outcome(
        succeeded=ok,
        status_code=SUCCEEDED if ok else FAILED,
        response=cap_text(output),
        duration_ms=elapsed_ms(started),
        error=error,
    )


def did_not_finish(error: str, started: float, output: str = "") -> Outcome:
    return Outcome(
        succeeded=False,
        status_code=DID_NOT_FINISH,
        response=cap_text(output),
        duration_ms=elapsed_ms(started),
        error=error,
    )


def cap_text(text: str) -> str:
    if len(text) <= OUTPUT_CAP:
        return text
    return text[:OUTPUT_CAP] + f"\n[… {len(text) - OUTPUT_CAP} more characters not kept]"


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
