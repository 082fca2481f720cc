"""Response bodies as received: decoding the encodings the client offers, and
keeping the bytes as they came when a body cannot be decoded.

The client offers only what it can decode (`ACCEPT_ENCODING`). A server that
answers in another encoding anyway, or whose compressed body is corrupt, still
gets its bytes recorded: an attempt log with an empty body would hide what the
server said. The note says why the bytes are raw.
"""

from __future__ import annotations

import zlib

ACCEPT_ENCODING = "gzip, deflate"

# Content-Encoding values that need no decoding.
_IDENTITY = frozenset({b"", b"identity"})


class Undecodable(Exception):
    """The compressed body is corrupt; the raw bytes kept so far replace it."""

    def __init__(self, note: str, raw: bytes) -> None:
        super().__init__(note)
        self.note = note
        self.raw = raw


class Inflater:
    """Decodes a gzip or deflate body incrementally, never past the room given.

    "deflate" means a zlib stream (RFC 9110 §8.4.1.2), but servers often send a
    bare deflate stream instead; the first byte tells them apart, since a zlib
    stream starts with compression method 8 in its low nibble.
    """

    def __init__(self, name: str, keep_raw: int) -> None:
        self.name = name
        self._zlib: zlib._Decompress | None = None
        self._raw = bytearray()
        self._keep_raw = keep_raw

    def decode(self, data: bytes, room: int) -> bytes:
        if len(self._raw) < self._keep_raw:
            self._raw += data[: self._keep_raw - len(self._raw)]
        if self._zlib is None:
            self._zlib = zlib.decompressobj(self._window(data))
        try:
            return self._zlib.decompress(data, max(room, 1))
        except zlib.error as exc:
            raise Undecodable(
                f"the body is marked {self.name} but could not be decoded ({exc}); "
                "it is kept as received",
                bytes(self._raw),
            ) from None

    def ended_early(self) -> bool:
        """Whether the compressed stream stopped before its own end marker."""
        return self._zlib is not None and not self._zlib.eof

    def _window(self, first: bytes) -> int:
        if self.name == "gzip":
            return 16 + zlib.MAX_WBITS
        zlib_wrapped = bool(first) and first[0] & 0x0F == 8
        return zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS


def decoder_for(
    content_encoding: bytes | None, keep_raw: int
) -> tuple[Inflater | None, str | None]:
    """The decoder for a response's Content-Encoding, or None and a note saying
    why its bytes are kept as they came."""
    if content_encoding is None:
        return None, None
    value = content_encoding.strip().lower()
    if value in _IDENTITY:
        return None, None
    if value in (b"gzip", b"x-gzip"):
        return Inflater("gzip", keep_raw), None
    if value == b"deflate":
        return Inflater("deflate", keep_raw), None
    shown = value.decode("latin-1")
    return None, (
        f"the body is in an encoding that was not asked for ({shown}); it is kept as received"
    )
