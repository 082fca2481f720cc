"""One metrics directory for a group of processes behind one port.

prometheus_client picks in-memory or file-backed values when its first metric is
made, from the environment; so the process that starts the others sets the
directory before importing anything that makes metrics, and its children inherit it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

SHARED_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


def prepare() -> str:
    """Point this process and the ones it starts at a fresh, private directory (or
    at the operator's own `PROMETHEUS_MULTIPROC_DIR`, emptied as the client asks)."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("metrics were made before their directory was chosen")
    chosen = os.environ.get(SHARED_DIRECTORY)
    if chosen:
        os.makedirs(chosen, mode=0o700, exist_ok=True)
        for name in os.listdir(chosen):
            if name.endswith(".db"):  # a previous run's values would be counted again
                os.remove(os.path.join(chosen, name))
        return chosen
    directory = tempfile.mkdtemp(prefix="tidings-metrics-")
    os.environ[SHARED_DIRECTORY] = directory
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory
