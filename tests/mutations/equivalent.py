"""Mutants that survive because they cannot change behaviour, each with the reason.

Keyed by (the end of the mutated function's name, a piece of the mutated line), so
that an entry outlives mutmut's renumbering when other code in the module changes.
Rules that cover many mutants at once (the case of SQL, log wording) are in
report.py's `why_equivalent`.
"""

from __future__ import annotations

EQUIVALENT: dict[tuple[str, str], str] = {
    ("signing.standard.x_sign_with_key", '"SHA256"'):
        "hash names are case-insensitive: SHA256 and sha256 are one digest",
    ("domain.retry.x_next_retry", "(1 - (rng or random).uniform(-JITTER, JITTER))"):
        "the jitter is symmetric, so 1 - u and 1 + u have the same distribution",
    ("delivery.guard.x_system_lookup", "getaddrinfo(host, None"):
        "the port does not change which addresses a name resolves to; only those are kept",
    ("delivery.guard.x_system_lookup", "getaddrinfo(host, port, )"):
        "without SOCK_STREAM each address comes back once per socket type, and "
        "duplicates are dropped",
    ("delivery.guard.x__with_article", '"XXaeiouXX"'):
        "no reason phrase starts with X, so the same article is chosen",
    ("ingest_gate.xǁAdmissionǁ__init__", "= \"\""):
        "`_place` is read only after `__aenter__` set it",
    ("ingest_gate.xǁAdmissionǁ__aexit__", "self._place = \"\""):
        "an admission is exited once; its place is never read after that",
    ("storage.sqlite.queue.x_claim_due", "secrets.randbits(63)"):
        "any random claim id fences as well; 63 bits still fit SQLite's integer",
    ("storage.postgres.claim.x_claim_due", "secrets.randbits(63)"):
        "any random claim id fences as well; 63 bits still fit a bigint",
}  # fmt: skip
