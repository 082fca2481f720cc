"""Named one-line mutations of critical code, each of which some test must catch.

    python -m tests.mutations.named [--only NAME] [--backend sqlite|postgres|all]

Each mutation is applied to a copy of `src/` and `tests/` in a temporary folder and
the tests named beside it are run there (servers started by the tests import the
mutated copy too: PYTHONPATH puts it first). A mutation the tests still pass is a
survivor, and the command exits 1. These complement `mutmut` (see docs/testing.md),
which does not change SQL: here the fences and filters inside the SQL are mutated.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STORE = "tests/contract/test_store.py"
ROTATION = "tests/integration/test_secret_rotation.py"
RETRY = "tests/unit/test_retry.py"
QUEUE = "tests/contract/test_queue.py"
FENCING = "stale_claim or lease_renewal"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # under src/tidings/
    before: str
    after: str
    tests: tuple[str, ...]
    select: str = ""  # pytest -k expression
    backend: str = "all"  # which backend's test parameters can see it


MUTATIONS = (
    # Claim fencing: a worker whose lease was taken over must move nothing.
    Mutation("sqlite record ignores the claim id", "storage/sqlite/queue.py",
             "trigger_type = 0, updated_at = ?\nWHERE key = ? AND claim_id = ?",
             "trigger_type = 0, updated_at = ?\nWHERE key = ?",
             (STORE,), FENCING, "sqlite"),
    Mutation("sqlite extend ignores the claim id", "storage/sqlite/queue.py",
             "WHERE key = ? AND claim_id = ? AND status = 3", "WHERE key = ? AND status = 3",
             (STORE,), FENCING, "sqlite"),
    Mutation("sqlite release ignores the claim id", "storage/sqlite/queue.py",
             "claim_id = NULL, updated_at = ?\nWHERE key = ? AND claim_id = ?",
             "claim_id = NULL, updated_at = ?\nWHERE key = ? AND ? IS NOT NULL",
             (STORE,), FENCING, "sqlite"),
    Mutation("postgres record ignores the claim id", "storage/postgres/queue.py",
             "FROM d JOIN locked ON locked.key = d.key\nWHERE delivery.key = d.key",
             "FROM d\nWHERE delivery.key = d.key",
             (STORE,), FENCING, "postgres"),
    Mutation("postgres extend ignores the claim id", "storage/postgres/queue.py",
             "UPDATE delivery SET due_at = $3 FROM locked\nWHERE delivery.key = locked.key",
             "UPDATE delivery SET due_at = $3 FROM d\nWHERE delivery.key = d.key",
             (STORE,), FENCING, "postgres"),
    Mutation("postgres release ignores the claim id", "storage/postgres/queue.py",
             "updated_at = $4 FROM locked\nWHERE delivery.key = locked.key",
             "updated_at = $4 FROM d\nWHERE delivery.key = d.key",
             (STORE,), FENCING, "postgres"),
    Mutation("postgres locks ignore the claim id", "storage/postgres/queue.py",
             "WHERE delivery.claim_id = d.claim_id ORDER BY", "ORDER BY",
             (STORE,), FENCING, "postgres"),
    # A delivery's own due time, under its endpoint's lane.
    Mutation("sqlite release ignores its delay", "storage/sqlite/queue.py",
             "    due = now + delay_ms\n", "    due = now\n",
             (QUEUE,), "released", "sqlite"),
    Mutation("postgres release ignores its delay", "storage/postgres/queue.py",
             "claims, now + delay_ms, now)", "claims, now, now)",
             (QUEUE,), "released", "postgres"),
    # Secret rotation: the old secret signs alongside for the grace period, then stops.
    Mutation("rotation keeps no old secret", "api/endpoints.py",
             "    if grace:\n        kept.append(", "    if False:\n        kept.append(",
             (ROTATION,)),
    Mutation("rotation forgets earlier retired secrets", "api/endpoints.py",
             "kept = [old for old in endpoint.retired_secrets if old.expires_at > now]",
             "kept: list[RetiredSecret] = []", (ROTATION,)),
    Mutation("sqlite claim drops retired secrets", "storage/sqlite/queue.py",
             "old.secret for old in endpoint.retired_secrets if old.expires_at > now",
             "old.secret for old in endpoint.retired_secrets if False",
             (ROTATION,), "", "sqlite"),
    Mutation("sqlite claim keeps expired secrets", "storage/sqlite/queue.py",
             "old.secret for old in endpoint.retired_secrets if old.expires_at > now",
             "old.secret for old in endpoint.retired_secrets",
             (ROTATION,), "", "sqlite"),
    Mutation("postgres claim drops retired secrets", "storage/postgres/claim.py",
             "[old.secret for old in retired if old.expires_at > now]", "[]",
             (STORE, ROTATION), "rotat or retired", "postgres"),
    Mutation("postgres claim keeps expired secrets", "storage/postgres/claim.py",
             "[old.secret for old in retired if old.expires_at > now]",
             "[old.secret for old in retired]",
             (STORE, ROTATION), "rotat or retired", "postgres"),
    # Retry policy.
    Mutation("one-sided jitter", "domain/retry.py",
             "uniform(-JITTER, JITTER)", "uniform(0, JITTER)", (RETRY,)),
    Mutation("jitter dropped", "domain/retry.py",
             "planned * (1 + (rng or random).uniform(-JITTER, JITTER))", "planned", (RETRY,)),
    Mutation("the floor ignored by the schedule", "domain/retry.py",
             "planned = max(schedule[attempts_made], minimum)",
             "planned = schedule[attempts_made]", (RETRY,)),
    Mutation("the floor dropped from the result", "domain/retry.py",
             "delay_seconds=max(delay, minimum)", "delay_seconds=delay", (RETRY,)),
    Mutation("Retry-After not capped", "domain/retry.py",
             "min(max(retry_after, planned), 2 * planned)", "max(retry_after, planned)",
             (RETRY,)),
    Mutation("a slow-down answer gets no floor", "delivery/results.py",
             "minimum=SLOW_DOWN_MINIMUM_SECONDS if slow else 0.0", "minimum=0.0",
             ("tests/integration/test_hostile_endpoints.py",), "429", "sqlite"),
    # Idempotency.
    Mutation("sqlite keys never expire", "storage/sqlite/messages.py",
             "if row[\"created_at\"] <= at - DEDUP_WINDOW_MS:", "if False:",
             (STORE,), "idempotency", "sqlite"),
    Mutation("sqlite keys expire at once", "storage/sqlite/messages.py",
             "if row[\"created_at\"] <= at - DEDUP_WINDOW_MS:", "if True:",
             (STORE,), "idempotency", "sqlite"),
    Mutation("sqlite keys free a millisecond late", "storage/sqlite/messages.py",
             "if row[\"created_at\"] <= at - DEDUP_WINDOW_MS:",
             "if row[\"created_at\"] < at - DEDUP_WINDOW_MS:",
             (STORE,), "idempotency", "sqlite"),
    Mutation("postgres keys free a millisecond late", "storage/postgres/messages.py",
             "WHERE idempotency.created_at <= $5", "WHERE idempotency.created_at < $5",
             (STORE,), "idempotency", "postgres"),
    Mutation("sqlite keys ignore the body", "storage/sqlite/messages.py",
             "if row[\"fingerprint\"] != idempotency.fingerprint:", "if False:",
             (STORE,), "idempotency", "sqlite"),
    Mutation("postgres keys never expire", "storage/postgres/messages.py",
             "expired_before = message.created_at - DEDUP_WINDOW_MS",
             "expired_before = 0", (STORE,), "idempotency", "postgres"),
    # Not listed, because equivalent: the one-statement create's window (`p_dedup_since`)
    # set to 0. It then finds the key taken and writes nothing, and the create falls
    # back to the transaction path, whose own window (mutated above) takes the key over.
    Mutation("no in-process 409 for a key in flight", "api/message_gate.py",
             "            if held in self._keys_in_flight:\n",
             "            if False:\n", ("tests/unit/test_message_gate.py",)),
    Mutation("a finished request keeps its key", "api/message_gate.py",
             "self._keys_in_flight.discard((app_key, idempotency_key))", "pass",
             ("tests/unit/test_message_gate.py",)),
)  # fmt: skip


def _copy(into: Path) -> None:
    for part in ("src", "tests"):
        shutil.copytree(ROOT / part, into / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", into / "pyproject.toml")


def _run(mutation: Mutation, backend: str, mutate: bool = True) -> bool:
    """True when the tests catch the mutation (fail on the mutated copy). With
    `mutate=False`, the same tests on the unchanged copy: they must pass."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as folder:
        copy = Path(folder)
        _copy(copy)
        target = copy / "src" / "tidings" / mutation.path
        text = target.read_text()
        if text.count(mutation.before) != 1:
            raise SystemExit(f"{mutation.name}: the text to mutate is not in {mutation.path} once")
        if mutate:
            target.write_text(text.replace(mutation.before, mutation.after))
        select = mutation.select
        backend = mutation.backend if mutation.backend != "all" else backend
        if backend != "all":
            select = f"({select}) and {backend}" if select else backend
        args = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                *mutation.tests]  # fmt: skip
        if select:
            args += ["-k", select]
        env = {**os.environ, "PYTHONPATH": f"{copy / 'src'}{os.pathsep}{copy}"}
        done = subprocess.run(args, cwd=copy, env=env, capture_output=True, text=True)
        if done.returncode == 5:  # nothing selected: a mistake in this table, not a kill
            raise SystemExit(f"{mutation.name}: no test selected by {select!r}")
        if not mutate and done.returncode != 0:
            raise SystemExit(f"{mutation.name}: the tests fail unmutated\n{done.stdout[-3000:]}")
        return done.returncode != 0


def _wanted(mutation: Mutation, only: str | None, backend: str) -> bool:
    named = not only or only in mutation.name
    return named and (backend == "all" or mutation.backend in ("all", backend))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the mutations whose name contains this")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if _wanted(m, args.only, args.backend)]
    # Each selection of tests must pass on the unchanged code, or a "catch" means nothing.
    checked = set()
    for mutation in chosen:
        key = (mutation.tests, mutation.select, mutation.backend)
        if key not in checked:
            checked.add(key)
            _run(mutation, args.backend, mutate=False)
    print(f"{len(checked)} selections of tests pass unmutated", flush=True)
    survivors = []
    for mutation in chosen:
        started = time.monotonic()
        caught = _run(mutation, args.backend)
        verdict = "caught" if caught else "SURVIVED"
        print(f"{verdict:9} {mutation.name}  ({time.monotonic() - started:.0f} s)", flush=True)
        if not caught:
            survivors.append(mutation.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
