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
    ("message_gate.xǁAdmissionǁ__init__", "= \"\""):
        "`_place` is read only after `__aenter__` set it",
    ("message_gate.xǁAdmissionǁ__aexit__", "self._place = \"\""):
        "an admission is exited once; its place is never read after that",
    ("storage.sqlite.queue.x_claim_due", "secrets.randbits(63)"):
        "any random claim id fences as well; 63 bits still fit SQLite's integer",
    ("storage.postgres.claim.x_claim_due", "secrets.randbits(63)"):
        "any random claim id fences as well; 63 bits still fit a bigint",
    ("delivery.guard.x__parse_answer", 'partition("XX%XX")'):
        "Python's ipaddress parses a zone id itself (3.9 and later); the checked "
        "address is the same",
    # The endpoint cache is an optimisation: without it, or on a miss, the endpoints
    # are read in the same transaction, so the deliveries made are the same.
    ("storage.sqlite.messages.x_endpoints", "cache"):
        "the endpoint cache only saves a read: a miss reads the same endpoints",
    ("storage.postgres.messages.x__endpoints", "cache"):
        "the endpoint cache only saves a read: a miss reads the same endpoints",
    ("storage.postgres.messages.x__endpoints", "kept_version"):
        "the endpoint cache only saves a read: a miss reads the same endpoints",
    ("storage.postgres.messages.x__endpoints", "app.key, None)"):
        "the endpoint cache only saves a read: a miss reads the same endpoints",
    ("storage.sqlite.messages.x_create", "app, None, keys"):
        "the endpoint cache only saves a read: a miss reads the same endpoints",
    ("storage.postgres.messages.x_create", "app, None, keys"):
        "the endpoint cache only saves a read: a miss reads the same endpoints",
    ("messages.x_endpoints", "ApplicationChanged(None)"):
        "the message of an exception its callers catch (they read the application "
        "again); it is never shown",
    ("messages.x__endpoints", "ApplicationChanged(None)"):
        "the message of an exception its callers catch (they read the application "
        "again); it is never shown",
    # The one-statement create writes only when the application, its endpoints'
    # version and the key all match what it was given; otherwise it writes nothing
    # and the transaction path (tested on its own) creates the message.
    ("storage.postgres.messages.x_create_at_once", "version = None"):
        "the one-statement create then writes nothing, and the transaction path creates "
        "the same message",
    ("storage.postgres.messages.x_create_at_once", "kept = cache.get"):
        "the one-statement create then writes nothing, and the transaction path creates "
        "the same message",
    ("storage.postgres.messages.x_create_at_once", "if version is"):
        "the one-statement create then writes nothing, and the transaction path creates "
        "the same message",
    ("storage.postgres.messages.x_create_at_once", "app.key, -> None,"):
        "with another application key the statement writes nothing, and the transaction "
        "path creates the same message",
    ("storage.postgres.messages.x_create_at_once", "app.id, -> None,"):
        "with another application id the statement writes nothing, and the transaction "
        "path creates the same message",
    ("storage.postgres.messages.x_create_at_once", "app.uid, -> None,"):
        "with another uid the statement writes nothing, and the transaction path creates "
        "the same message",
    ("storage.postgres.messages.x_create_at_once", "version, -> None,"):
        "with another endpoints version the statement writes nothing, and the transaction "
        "path creates the same message",
    ("storage.postgres.messages.x_create_at_once", "CHANNEL if notify else None, -> None,"):
        "a NOTIFY is a hint (workers poll): whether this statement carries it changes "
        "latency only",
    ("storage.postgres.queue.x__queued", "announce.owe(None)"):
        "a NOTIFY is a hint (workers poll): a missed one changes latency only",
    ("storage.postgres.queue.x_resend", "_queued(conn, 2,"):
        "only whether the count is 0 matters there",
    # Lanes are a lower bound on when an endpoint has work: an earlier one costs a
    # visit to the endpoint, never a delivery, and the settle after it raises it again.
    ("storage.postgres.queue.x_release", "lanes.wake(conn, [(d.endpoint_key, now - delay_ms)"):
        "an earlier lane costs the claim a visit, never a delivery",
    ("storage.postgres.queue.x__columns", "strict"):
        "the columns always come from rows of one shape, so they are of equal length",
    ("storage.postgres.queue.x__row_count", "rsplit(None, 1)"):
        "a command status is words separated by one space, which both splits read alike",
    ("storage.postgres.queue.x_replay_missing", "prefetch"):
        "the cursor's prefetch size changes how many rows each round trip brings, "
        "not which",
    ("queue.x_replay_missing", "with_payload=None"):
        "None and False are both false there",
    ("storage.sqlite.queue.x_replay_missing", "rows.message(row, None)"):
        "None and False are both false there",
    ("storage.sqlite.queue.x_replay_missing", "rows.message(row, )"):
        "the flag's default is False",
    ("queue.x__disable_candidates", "candidates.get(key, None)"):
        "None and False are both false in the `or`",
    ("queue.x__disable_candidates", "candidates.get(key, )"):
        "the default None is false in the `or`, as False is",
    ("storage.sqlite.queue.x_record_attempts", "park_for_endpoint(conn, None)"):
        "a claim parks the deliveries of a disabled endpoint that it meets, so they "
        "are parked either way",
    ("storage.postgres.queue.x__disable", "_PARK_FOR_ENDPOINTS, None"):
        "a claim parks the deliveries of a disabled endpoint that it meets, so they "
        "are parked either way",
    ("storage.sqlite.queue.x_claim_due", "leased = None"):
        "with no keys picked the function returns before `leased` is read as a list",
    ("storage.postgres.claim.x_claim_due", "if (found) or True"):
        "the claim statement always returns at least one row (the visited lanes)",
    ("storage.sqlite.messages.x_message_row", "rows.dump(None)"):
        "this row is written only for received events, which never carry channels "
        "or tags",
    ("storage.postgres.claim.x_settle", "translated(None)"):
        "the pool is only used to translate connection errors, which this settle "
        "catches and logs either way",
    ("storage.postgres.queue.x__columns", "zip(*table, )"):
        "the columns always come from rows of one shape, so they are of equal length",
    ("storage.postgres.queue.x_replay_missing", "*args, )"):
        "the cursor's prefetch size changes how many rows each round trip brings, "
        "not which",
    ("storage.postgres.messages.x_create_at_once", "kept = None"):
        "the one-statement create then writes nothing, and the transaction path creates "
        "the same message",
    ("storage.sqlite.messages.x_endpoints", "found_endpoints = None"):
        "the endpoint cache only saves a read: a miss reads the same endpoints",
    # A key row without its message exists only inside the transaction that claims
    # it; another transaction never sees one (see the comment at the check).
    ("storage.postgres.messages.x__replay", "if earlier is None and"):
        "the check guards a state no committed transaction leaves",
    ("storage.postgres.messages.x__replay", "in use by a request still in progressXX"):
        "the check guards a state no committed transaction leaves",
    ("storage.postgres.messages.x__replay", "Conflict(None)"):
        "the check guards a state no committed transaction leaves, or a message that "
        "only a retention policy (not yet built) could remove",
    ("storage.postgres.messages.x__replay", "XXthe message this idempotency-key created"):
        "the check guards a state no committed transaction leaves, or a message that "
        "only a retention policy (not yet built) could remove",
    # _pick_fairly's arithmetic: the first pass visits at most limit // share lanes
    # and takes at most a share from each, so it never runs past the claim's limit,
    # and a lane that took less than its share has nothing more to give.
    ("storage.sqlite.queue.x__pick_fairly", "min(share, cap, )"):
        "the visited lanes' shares add up to at most the limit, so the first pass "
        "never needs the limit's rest as a bound",
    ("storage.sqlite.queue.x__pick_fairly", "len(picked) == share or cap > share"):
        "a lane that took less than its share has no more due, so the second pass "
        "finds nothing past its share",
    ("storage.sqlite.queue.x__pick_fairly", "cap >= share"):
        "with its room equal to its share, the second pass may take only the share it "
        "already has",
    ("storage.sqlite.queue.x__pick_fairly", "if len(keys) > limit"):
        "with the claim full, the second pass asks for a share's worth and keeps only "
        "what lies past the share: nothing",
    ("storage.sqlite.messages.x_with_event_ids", "range(0, len(wanted), )"):
        "a step of one reads overlapping chunks whose rows are the same, into a "
        "mapping by key",
    ("storage.postgres.messages.x_create_at_once", "key = None"):
        "without the one-statement create, the transaction path creates the same message",
    ("storage.sqlite.queue.x__pick_fairly", "limit + len(keys)"):
        "the visited lanes' shares add up to at most the limit, so the first pass "
        "never needs the limit's rest as a bound",
    ("storage.sqlite.queue.x_replay_missing", "rows.message(row, True)"):
        "fan-out selection reads no payload: whether the row's payload is copied does "
        "not change which endpoints are chosen",
}  # fmt: skip
