"""`tidings worker` runs below the API's CPU priority, and so do the programs its
actions run; a worker leading its own session lowers that session's share too."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.harness import ServerProcess
from tests.integration.ingest.test_actions import attempts, github, ingest_url
from tests.integration.ingest.test_sources import GITHUB_SECRET
from tests.waiting import eventually

AUTOGROUP = Path("/proc/self/autogroup")


def thread_nice_values(pid: int) -> set[int]:
    """The nice value of every thread of `pid` (field 19 of proc(5)'s stat)."""
    values = set()
    for thread in os.listdir(f"/proc/{pid}/task"):
        stat = Path(f"/proc/{pid}/task/{thread}/stat").read_text()
        values.add(int(stat.rpartition(")")[2].split()[16]))
    return values


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_the_worker_and_its_programs_run_at_the_configured_nice(tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [[source]]
        uid = "prio"
        type = "github"
        secrets = ["{GITHUB_SECRET}"]

          [[source.action]]
          name = "nice"
          command = ["nice"]
    """)
    )
    api = ServerProcess(tmp_path, "api", config=str(config), worker_nice="7").start()
    worker = api.successor("worker").start()
    try:
        assert github(ingest_url(api, "prio"), {"ref": "x"}).status_code == 200
        tries = eventually(lambda: attempts(api, "prio", "config.nice"), bool)
        assert tries[0]["response"] == "7\n"  # what `nice` prints: its own niceness
        assert worker.process is not None and api.process is not None
        assert thread_nice_values(worker.process.pid) == {7}
        assert thread_nice_values(api.process.pid) == {0}
    finally:
        worker.stop()
        api.stop()


PROBE = textwrap.dedent("""\
    from pathlib import Path
    from tidings.serve.priority import lower_worker_priority
    lower_worker_priority(5)
    print(Path("/proc/self/autogroup").read_text().strip())
""")


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="the kernel has no autogroup scheduling")
def test_a_worker_leading_its_session_lowers_the_session() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        start_new_session=True,
        check=True,
        timeout=30,
    )
    assert done.stdout.strip().endswith(" nice 5"), done.stdout


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="the kernel has no autogroup scheduling")
def test_a_worker_sharing_a_session_leaves_the_session_alone() -> None:
    # Its session is this test's (an API started from the same shell, say).
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stdout.strip() == AUTOGROUP.read_text().strip()
