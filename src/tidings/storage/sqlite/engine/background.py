"""A daemon thread of its own beside the group-commit writer (the checkpointer, the
watchdog): started once, and stopped by setting `_stop`, which its loop waits on."""

from __future__ import annotations

import threading


class BackgroundThread:
    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _serve(self) -> None:
        raise NotImplementedError
