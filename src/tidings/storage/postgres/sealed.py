"""Sealing what was written in the clear (before sealing existed), or with a key
that no longer seals (after a new key was put in front of the ring)."""

from __future__ import annotations

from typing import Any

from tidings.storage import records
from tidings.storage.postgres import rows
from tidings.storage.sealing import KeyRing, needs_sealing

_ENDPOINTS = f"SELECT {rows.columns(rows.ENDPOINT)} FROM endpoint FOR UPDATE"
_SEAL_ENDPOINT = """
UPDATE endpoint SET secret = $1, retired_secrets = $2, headers = $3 WHERE key = $4
"""
_SOURCES = f"SELECT {rows.columns(rows.SOURCE)} FROM source FOR UPDATE"
_SEAL_SOURCE = """
UPDATE source SET config = $1, token = $2, token_lookup = $3, previous_token = $4,
    previous_token_lookup = $5
WHERE key = $6
"""


async def seal_rows(conn: Any, keys: KeyRing, only_plaintext: bool) -> int:
    """Seal again every endpoint and source that needs it; how many rows changed."""
    return await _endpoints(conn, keys, only_plaintext) + await _sources(conn, keys, only_plaintext)


async def _endpoints(conn: Any, keys: KeyRing, only_plaintext: bool) -> int:
    changed = 0
    for row in await conn.fetch(_ENDPOINTS):
        stored = (row["secret"], rows.load(row["retired_secrets"]), rows.load(row["headers"]))
        if not needs_sealing(keys, only_plaintext, *stored):
            continue
        sealed = records.endpoint_secrets(rows.endpoint(row, keys), keys)
        await conn.execute(
            _SEAL_ENDPOINT,
            sealed["secret"],
            rows.dump(sealed["retired_secrets"]),
            rows.dump(sealed["headers"]),
            row["key"],
        )
        changed += 1
    return changed


async def _sources(conn: Any, keys: KeyRing, only_plaintext: bool) -> int:
    changed = 0
    for row in await conn.fetch(_SOURCES):
        stored = (row["token"], row["previous_token"], rows.load(row["config"]))
        if row["token_lookup"] is not None and not needs_sealing(keys, only_plaintext, *stored):
            continue
        sealed = records.source_secrets(rows.source(row, keys), keys)
        await conn.execute(
            _SEAL_SOURCE,
            rows.dump(sealed["config"]),
            sealed["token"],
            sealed["token_lookup"],
            sealed["previous_token"],
            sealed["previous_token_lookup"],
            row["key"],
        )
        changed += 1
    return changed
