"""The python action: call `module:function` with the verified event.

The function may be sync or async. Sync functions run in a thread pool of their
own, so a slow one never blocks the event loop or other actions. An exception is
a failed attempt whose traceback is kept; what the function returns (text, or
anything JSON can show) is kept as the attempt's response. Python cannot stop a
thread, so a sync function that outlives its timeout is recorded as timed out
and left to finish in the background.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tidings.domain.outcomes import Outcome
from tidings.ingest.actions.base import Action, did_not_finish, finished
from tidings.ingest.actions.event import InboundWebhook

_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="action")


def resolve(target: str) -> Callable[..., Any]:
    """The callable `module:attribute.path` names; ValueError saying why not."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{target!r} is not of the form module:function")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # the module's own import errors, syntax errors included
        raise ValueError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    for name in attribute.split("."):
        found = getattr(found, name, None)
        if found is None:
            raise ValueError(f"{module_name!r} has no attribute {attribute!r}")
    if not callable(found):
        raise ValueError(f"{target!r} is not callable")
    return found  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PythonAction(Action):
    kind = "python"

    target: str
    function: Callable[..., Any] = field(compare=False)

    @property
    def describe(self) -> str:
        return f"python: {self.target}"

    async def run(self, event: InboundWebhook) -> Outcome:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.limits.timeout):
                result = await self._call(event)
        except TimeoutError:
            return did_not_finish(f"no result within the {self.limits.timeout:g}s timeout", started)
        except Exception as exc:
            trace = "".join(traceback.format_exception(exc))
            return finished(False, trace, started, f"{type(exc).__name__}: {exc}")
        return finished(True, _shown(result), started)

    async def _call(self, event: InboundWebhook) -> Any:
        if inspect.iscoroutinefunction(self.function):
            return await self.function(event)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(_THREADS, self.function, event)
        if inspect.isawaitable(result):
            return await result
        return result


def _shown(result: Any) -> str:
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    if isinstance(result, bytes):
        return result.decode("utf-8", errors="replace")
    try:
        return orjson.dumps(result, default=str).decode()
    except TypeError:
        return repr(result)
