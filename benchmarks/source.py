"""Which Tidings source is measured: the working tree, or a snapshot of a git revision.

`--ref REV` exports `src/` of REV with `git archive` (read-only for the repository)
into a temporary folder and re-executes the runner with that folder first on PYTHONPATH,
so every process of the run (the runner, Tidings, the receiver, the load
generators) imports the same code while others keep editing the working tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from benchmarks.procs import ROOT

SNAPSHOT_ENV = "BENCH_TIDINGS_SNAPSHOT"


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, check=True)
    return done.stdout.decode().strip()


def snapshot(ref: str, folder: Path) -> tuple[str, Path]:
    """Export `src/` of `ref` into `folder`; return the full commit id and the src path."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    target = folder / f"src-{commit[:12]}"
    if not target.exists():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src"],
            capture_output=True,
            check=True,
        )
        tar_path = folder / f"src-{commit[:12]}.tar"
        tar_path.write_bytes(archive.stdout)
        with tarfile.open(tar_path) as tar:
            tar.extractall(target, filter="data")
        tar_path.unlink()
    return commit, target / "src"


def reexec_on(ref: str, argv: list[str]) -> None:
    """Replace this process by the runner importing Tidings from a snapshot of `ref`."""
    commit, src = snapshot(ref, Path(tempfile.mkdtemp(prefix="tidings-bench-src-")))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    env[SNAPSHOT_ENV] = f"{commit} {src}"
    print(f"measuring Tidings at {ref} = {commit[:12]} (snapshot in {src})", flush=True)
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks.run", *argv], env)


def remove_snapshot() -> None:
    """Delete the snapshot this process runs on, if any (at the end of the run)."""
    found = os.environ.get(SNAPSHOT_ENV)
    if found:
        shutil.rmtree(Path(found.split(maxsplit=1)[1]).parent.parent, ignore_errors=True)


def describe() -> dict[str, str | bool | None]:
    """The source this process imports Tidings from."""
    import tidings

    location = str(Path(tidings.__file__).resolve().parent)
    snapshot_of = os.environ.get(SNAPSHOT_ENV)
    if snapshot_of:
        return {"kind": "git snapshot", "commit": snapshot_of.split()[0], "path": location}
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--", "src"))
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {"kind": "working tree", "commit": commit, "dirty": dirty, "path": location}
