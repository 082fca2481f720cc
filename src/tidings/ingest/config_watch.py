"""Keeping a running process in step with its config file.

The file is read once at start (a bad file then stops the process with the
reason). Afterwards it is checked every second; a changed file that reads
cleanly replaces the config and is applied to the database, while one that does
not keeps the previous config and logs why. Python modules the file names are
reloaded with it, so editing a handler and touching the file picks it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import sys

from tidings.ingest import config_file, config_sync
from tidings.ingest.actions.python_call import PythonAction
from tidings.ingest.config_file import ConfigError, FileConfig
from tidings.storage.ports import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


class ConfigWatcher:
    def __init__(self, path: str, store: Store, allow_shared_write: bool = False) -> None:
        self._path = path
        self._store = store
        self._allow_shared_write = allow_shared_write
        self._seen = self._stamp()
        self.current: FileConfig = config_file.load(path, allow_shared_write)
        self._applied = False

    def get(self) -> FileConfig:
        return self.current

    def _stamp(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self._path)
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    async def apply(self) -> None:
        try:
            await config_sync.apply(self._store, self.current)
            self._applied = True
        except Exception as exc:  # the database may be briefly away; try again next tick
            self._applied = False
            log.error("config: applying %s to the database failed: %s", self._path, exc)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), POLL_SECONDS)
            if stopping.is_set():
                return
            if self._changed():
                self._reload()
            if not self._applied:
                await self.apply()

    def _changed(self) -> bool:
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        return True

    def _reload(self) -> None:
        _forget_modules(self.current)
        try:
            loaded = config_file.load(self._path, self._allow_shared_write)
        except ConfigError as exc:
            log.error("config: %s; keeping the previous config", exc)
            return
        self.current, self._applied = loaded, False
        log.info("config: reloaded %s", self._path)


def _forget_modules(config: FileConfig) -> None:
    """Drop the modules of Python actions, so loading the file imports them afresh."""
    for source in config.sources:
        for action in source.actions:
            if isinstance(action, PythonAction):
                module = action.target.partition(":")[0]
                sys.modules.pop(module, None)
                importlib.invalidate_caches()
