"""Secrets at rest: sealed with AES-GCM under a key ring before they reach the
database, opened when read.

What is sealed: endpoint signing secrets (current and retired), endpoint custom
headers, source verifier configs, and sources' ingest tokens. A copy of the
database without the key yields none of them.

- **The key ring.** The first key seals; every key opens, so an operator adds a
  new key in front, runs `tidings secrets rotate-key` (which seals everything
  again with it), then drops the old one.
- **Bound to their place.** Each value is sealed with its column and row id as
  associated data, so a sealed secret copied into another row or column does not
  open there.
- **Lookups by equality** (an ingest token in a URL) use a keyed hash (HMAC-SHA256
  under a key derived from each ring key), never the token itself.
- **Values from before sealing** (no prefix) are read as they are, and sealed on
  the next start (see `Store.seal_everything`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"
KEY_BYTES = 32
_NONCE_BYTES = 12
_KEY_ID_BYTES = 4
KEY_FILE = "secret.key"
_MAX_OPENED = 8192


class SealingError(Exception):
    """A sealed value that no key of the ring opens (a wrong or missing key)."""


class KeyRing:
    """AES-256 keys; the first seals, any opens."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise ValueError(f"each secret key must be {KEY_BYTES} bytes, got {len(key)}")
        self._keys = {_key_id(key): AESGCM(key) for key in keys}
        self._current = _key_id(keys[0])
        self._lookups = [hmac.new(key, b"tidings lookup", hashlib.sha256).digest() for key in keys]
        # Opened values by sealed text and place: the claim path reads the same
        # few secrets again and again, and a sealed value never changes.
        self._opened: dict[tuple[str, str], str] = {}

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """From `TIDINGS_SECRET_KEY`: base64 keys, comma-separated, newest first."""
        keys = []
        for part in text.split(","):
            if not part.strip():
                continue
            try:
                keys.append(base64.b64decode(part.strip(), validate=True))
            except binascii.Error as exc:
                raise ValueError(f"a secret key is not base64: {exc}") from None
        return cls(keys)

    def seal(self, plaintext: str, place: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), place.encode())
        return PREFIX + base64.b64encode(self._current + nonce + sealed).decode("ascii")

    def open(self, stored: str, place: str) -> str:
        """The plaintext of a value `seal` returned for the same place."""
        opened = self._opened.get((stored, place))
        if opened is None:
            opened = self._open(stored, place)
            if len(self._opened) >= _MAX_OPENED:
                self._opened.clear()
            self._opened[(stored, place)] = opened
        return opened

    def _open(self, stored: str, place: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before sealing; sealed again on the next start
        raw = base64.b64decode(stored[len(PREFIX) :])
        key_id, nonce = raw[:_KEY_ID_BYTES], raw[_KEY_ID_BYTES : _KEY_ID_BYTES + _NONCE_BYTES]
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise SealingError(f"{place} was sealed with a key that is not in TIDINGS_SECRET_KEY")
        try:
            opened = cipher.decrypt(nonce, raw[_KEY_ID_BYTES + _NONCE_BYTES :], place.encode())
        except InvalidTag:
            raise SealingError(f"{place} does not open: it was altered or moved") from None
        return opened.decode()

    def is_current(self, stored: str) -> bool:
        """Sealed with the key that seals now (nothing to redo)."""
        if not stored.startswith(PREFIX):
            return False
        return base64.b64decode(stored[len(PREFIX) :])[:_KEY_ID_BYTES] == self._current

    def lookup(self, value: str) -> str:
        """The keyed hash a lookup by equality stores (under the current key)."""
        return self.lookups(value)[0]

    def lookups(self, value: str) -> list[str]:
        """The keyed hashes of `value` under every key, current first: a lookup
        finds rows written under any key of the ring."""
        return [hmac.new(key, value.encode(), hashlib.sha256).hexdigest() for key in self._lookups]


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"tidings key id" + key).digest()[:_KEY_ID_BYTES]


def new_key() -> str:
    """A fresh key, as `TIDINGS_SECRET_KEY` holds it."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_file_ring(folder: Path) -> KeyRing:
    """The embedded default: the key in `folder/secret.key`, created 0600 the first
    time (the folder 0700), read afterwards."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / KEY_FILE
    if not path.exists():
        # Written whole under another name, then linked into place: a process
        # starting at the same moment reads either no file or the whole key.
        draft = folder / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(new_key() + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink()
    return KeyRing.parse(path.read_text())


def needs_sealing(keys: KeyRing, only_plaintext: bool, *stored: object) -> bool:
    """Whether values as read from their columns must be sealed (again): any in the
    clear, or (`only_plaintext` false) any sealed with another key than the current.
    A JSON column's sealed value reads as a string; its plain value as anything else."""
    present = [value for value in stored if value is not None]
    if any(not (isinstance(value, str) and value.startswith(PREFIX)) for value in present):
        return True
    return not only_plaintext and not all(keys.is_current(str(value)) for value in present)
