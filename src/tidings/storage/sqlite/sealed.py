"""Sealing what was written in the clear (before sealing existed), or with a key
that no longer seals (after a new key was put in front of the ring)."""

from __future__ import annotations

import sqlite3

from tidings.storage import records
from tidings.storage.sealing import KeyRing, needs_sealing
from tidings.storage.sqlite.rows import COLUMNS, dump, load


def seal_rows(conn: sqlite3.Connection, keys: KeyRing, only_plaintext: bool) -> int:
    """Seal again every endpoint and source that needs it; how many rows changed."""
    return _endpoints(conn, keys, only_plaintext) + _sources(conn, keys, only_plaintext)


_ENDPOINTS = "SELECT * FROM endpoint"
_SEAL_ENDPOINT = "UPDATE endpoint SET secret = ?, retired_secrets = ?, headers = ? WHERE key = ?"
_SOURCES = "SELECT * FROM source"
_SEAL_SOURCE = """
UPDATE source SET config = ?, token = ?, token_lookup = ?, previous_token = ?,
    previous_token_lookup = ?
WHERE key = ?
"""


def _endpoints(conn: sqlite3.Connection, keys: KeyRing, only_plaintext: bool) -> int:
    changed = 0
    for row in conn.execute(_ENDPOINTS).fetchall():
        stored = (row["secret"], load(row["retired_secrets"]), load(row["headers"]))
        if not needs_sealing(keys, only_plaintext, *stored):
            continue
        sealed = records.endpoint_secrets(records.endpoint(row, COLUMNS, keys), keys)
        conn.execute(
            _SEAL_ENDPOINT,
            (
                sealed["secret"],
                dump(sealed["retired_secrets"]),
                dump(sealed["headers"]),
                row["key"],
            ),
        )
        changed += 1
    return changed


def _sources(conn: sqlite3.Connection, keys: KeyRing, only_plaintext: bool) -> int:
    changed = 0
    for row in conn.execute(_SOURCES).fetchall():
        stored = (row["token"], row["previous_token"], load(row["config"]))
        if row["token_lookup"] is not None and not needs_sealing(keys, only_plaintext, *stored):
            continue
        sealed = records.source_secrets(records.source(row, COLUMNS, keys), keys)
        conn.execute(
            _SEAL_SOURCE,
            (
                dump(sealed["config"]),
                sealed["token"],
                sealed["token_lookup"],
                sealed["previous_token"],
                sealed["previous_token_lookup"],
                row["key"],
            ),
        )
        changed += 1
    return changed
