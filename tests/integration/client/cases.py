"""The hostile-server cases: what a server sends to the first request, and what
Tidings must record and do with the connection.

`aiohttp` says how aiohttp's client (a well-kept one) answers the same bytes,
when that differs from Tidings: `None` means the same answer. A difference must
be a documented stricter answer (docs/delivery-client.md lists them).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

from tests.integration.client.hostile import FIN, HANG, RESET, Pause, Step


@dataclass(frozen=True)
class Case:
    id: str
    script: tuple[Step, ...]
    # What Tidings records: the status (0: none), the body, and words the error
    # (or None: no error) and the note must contain.
    status: int
    body: bytes = b""
    error: str | None = None
    note: str | None = None
    succeeded: bool = False
    # Whether the second request went over the first one's connection.
    reused: bool = False
    # How aiohttp's answer differs, or None when it gives the same one.
    aiohttp: str | None = None


def ok(body: bytes = b"ok", extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


def chunked(*chunks: bytes, trailer: bytes = b"", extension: bytes = b"") -> bytes:
    framed = b"".join(b"%x%s\r\n%s\r\n" % (len(c), extension, c) for c in chunks)
    return (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        + framed
        + b"0\r\n"
        + trailer
        + b"\r\n"
    )


def delivered(
    id: str,
    *script: Step,
    body: bytes = b"ok",
    reused: bool = True,
    note: str | None = None,
    aiohttp: str | None = None,
    status: int = 200,
) -> Case:
    return Case(id, script, status, body, None, note, True, reused, aiohttp)


def broken(
    id: str,
    *script: Step,
    error: str,
    status: int = 0,
    body: bytes = b"",
    aiohttp: str | None = None,
) -> Case:
    return Case(id, script, status, body, error, None, False, False, aiohttp)


def _split(data: bytes, size: int) -> tuple[Step, ...]:
    """`data` as separate writes of `size` bytes, each given time to arrive alone."""
    steps: list[Step] = []
    for start in range(0, len(data), size):
        steps += [data[start : start + size], Pause(0.002)]
    return tuple(steps)


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


INTERIM = b"HTTP/1.1 100 Continue\r\n\r\n"
BIG_HEADER = b"x-filler: " + b"a" * 1000 + b"\r\n"  # 1,012 bytes a line
GZIPPED = gzip.compress(b'{"received": true}')
STRAY = ok(b"someone else's answer")
AFTER = "more bytes after the end of its response"
TOO_MANY_INTERIM = b"HTTP/1.1 103 Early Hints\r\n\r\n" * 17

CASES: tuple[Case, ...] = (
    # Interim responses are skipped; the final one counts.
    delivered("100-then-200-one-write", INTERIM + ok()),
    delivered("100-then-200-two-writes", INTERIM, Pause(0.05), ok()),
    delivered("102-processing", b"HTTP/1.1 102 Processing\r\n\r\n" + ok()),
    delivered(
        "103-early-hints", b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n" + ok()
    ),
    delivered("unknown-1xx", b"HTTP/1.1 199 Whatever\r\n\r\n" + ok()),
    delivered("three-interim", INTERIM + b"HTTP/1.1 103 Early Hints\r\n\r\n" * 2 + ok()),
    delivered(
        "interim-headers-do-not-leak",
        b"HTTP/1.1 103 Early Hints\r\ncontent-encoding: gzip\r\n"
        b"content-length: 99\r\n\r\n" + ok(b"plain"),
        body=b"plain",
    ),
    delivered(
        "interim-split-inside-its-head",
        b"HTTP/1.1 100 Con",
        Pause(0.05),
        b"tinue\r\n\r",
        Pause(0.05),
        b"\n" + ok(),
    ),
    broken(
        "endless-interim",
        TOO_MANY_INTERIM + ok(),
        error="over 16 interim responses",
        aiohttp="accepts any number of interim responses",
    ),
    broken("interim-then-close", INTERIM, FIN, error="closed in the middle of the response head"),
    broken(
        "101-with-upgrade",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
        b"connection: upgrade\r\n\r\nframes",
        status=101,
        error="switched protocols",
        aiohttp="returns the 101 as the response",
    ),
    broken(
        "101-without-upgrade",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        HANG,
        status=101,
        error="switched protocols",
        aiohttp="returns the 101 as the response, then reuses the connection",
    ),
    # An exchange that did not end exactly never lends its connection out again.
    broken(
        "stray-response-same-write",
        ok() + STRAY,
        status=200,
        body=b"ok",
        error=AFTER,
        aiohttp="takes the first answer and keeps the second for the next request",
    ),
    broken("stray-garbage-same-write", ok() + b"\x00garbage", status=200, body=b"ok", error=AFTER),
    delivered(
        "stray-response-later-write",
        ok(),
        Pause(0.05),
        STRAY,
        reused=False,
        aiohttp="takes the late bytes as the answer to the next request",
    ),
    delivered("stray-crlf-after-length-body", ok() + b"\r\n", reused=False),
    broken(
        "stray-after-chunked",
        chunked(b"ok") + STRAY,
        status=200,
        body=b"ok",
        error=AFTER,
        aiohttp="takes the first answer and keeps the second for the next request",
    ),
    broken(
        "body-longer-than-length",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA",
        status=200,
        body=b"ok",
        error=AFTER,
    ),
    broken(
        "body-shorter-than-length",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok",
        FIN,
        status=200,
        body=b"ok",
        error="closed after 2 of the 10 body bytes",
    ),
    broken(
        "body-shorter-than-length-reset",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok",
        Pause(0.05),
        RESET,
        status=200,
        body=b"ok",
        error="closed after 2 of the 10",
    ),
    # Framing.
    delivered("content-length", ok(b"exactly"), body=b"exactly"),
    delivered("content-length-zero", ok(b""), body=b""),
    delivered("status-without-reason", b"HTTP/1.1 200\r\ncontent-length: 2\r\n\r\nok"),
    delivered("chunked", chunked(b"o", b"k")),
    delivered("chunked-extensions", chunked(b"o", b"k", extension=b";name=value")),
    delivered("chunked-trailers", chunked(b"ok", trailer=b"x-checksum: 1\r\nx-more: 2\r\n")),
    delivered(
        "chunked-across-writes",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r",
        Pause(0.05),
        b"\no\r\n1\r\nk",
        Pause(0.05),
        b"\r\n0\r\n",
        Pause(0.05),
        b"\r\n",
    ),
    broken(
        "chunked-cut-off",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n",
        FIN,
        status=200,
        body=b"ok",
        error="before the end of the chunked body",
    ),
    broken(
        "chunked-bad-size",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
        status=200,
        error="not valid HTTP/1.1",
    ),
    delivered(
        "close-delimited",
        b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
        FIN,
        body=b"until the end",
        reused=False,
    ),
    delivered("http10-length", b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", reused=False),
    delivered(
        "http10-keep-alive",
        b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok",
    ),
    delivered("http10-close-delimited", b"HTTP/1.0 200 OK\r\n\r\nok", FIN, reused=False),
    delivered("connection-close", ok(extra=b"connection: close\r\n"), reused=False),
    delivered("204-no-length", b"HTTP/1.1 204 No Content\r\n\r\n", status=204, body=b""),
    delivered(
        "204-length-zero",
        b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
        status=204,
        body=b"",
    ),
    delivered(
        "204-length-ignored",
        b"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n",
        status=204,
        body=b"",
    ),
    broken(
        "204-with-a-body-anyway", b"HTTP/1.1 204 No Content\r\n\r\nbody", status=204, error=AFTER
    ),
    Case(
        "304-no-length",
        (b"HTTP/1.1 304 Not Modified\r\n\r\n",),
        304,
        error="304 Not Modified, which is not a success",
        reused=True,
    ),
    Case(
        "304-length-ignored",
        (b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n",),
        304,
        error="not a success",
        reused=True,
    ),
    # Conflicting framing is refused outright.
    broken(
        "duplicate-length",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok",
        error="not valid HTTP/1.1",
    ),
    broken(
        "conflicting-lengths",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok!",
        error="not valid HTTP/1.1",
    ),
    broken(
        "length-and-chunked",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"
        b"transfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        error="not valid HTTP/1.1",
    ),
    broken(
        "length-not-a-number",
        b"HTTP/1.1 200 OK\r\ncontent-length: two\r\n\r\nok",
        error="not valid HTTP/1.1",
    ),
    broken(
        "length-negative",
        b"HTTP/1.1 200 OK\r\ncontent-length: -2\r\n\r\nok",
        error="not valid HTTP/1.1",
    ),
    broken(
        "length-with-plus",
        b"HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nok",
        error="not valid HTTP/1.1",
    ),
    delivered(
        "transfer-encoding-not-chunked",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: identity\r\n\r\nok",
        FIN,
        reused=False,
    ),
    # Line endings and status lines.
    broken(
        "bare-lf-everywhere",
        b"HTTP/1.1 200 OK\ncontent-length: 2\n\nok",
        error="not valid HTTP/1.1",
        aiohttp="accepts a bare LF as a line end",
    ),
    broken(
        "bare-lf-in-one-header",
        b"HTTP/1.1 200 OK\r\nx-a: b\ncontent-length: 2\r\n\r\nok",
        error="not valid HTTP/1.1",
        aiohttp="accepts a bare LF as a line end",
    ),
    broken(
        "garbage-status-line",
        b"HTTP/1.1 abc OK\r\ncontent-length: 2\r\n\r\nok",
        error="not valid HTTP/1.1",
    ),
    broken(
        "http2-status-line",
        b"HTTP/2 200\r\ncontent-length: 2\r\n\r\nok",
        error="not valid HTTP/1.1",
    ),
    broken("not-http", b"ICY 200 OK\r\n\r\nok", error="not valid HTTP/1.1"),
    broken(
        "four-digit-status",
        b"HTTP/1.1 2000 OK\r\ncontent-length: 2\r\n\r\nok",
        error="not valid HTTP/1.1",
    ),
    broken(
        "header-without-colon",
        b"HTTP/1.1 200 OK\r\nno colon here\r\ncontent-length: 2\r\n\r\nok",
        error="not valid HTTP/1.1",
    ),
    broken(
        "space-before-colon",
        b"HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\nok",
        error="not valid HTTP/1.1",
        aiohttp="accepts it",
    ),
    broken(
        "folded-header",
        b"HTTP/1.1 200 OK\r\nx-a: b\r\n  folded\r\ncontent-length: 2\r\n\r\nok",
        error="not valid HTTP/1.1",
        aiohttp="unfolds the header",
    ),
    # The header cap holds however the bytes arrive.
    delivered("headers-60k-one-write", ok(extra=BIG_HEADER * 60)),
    delivered("headers-60k-many-writes", *_split(ok(extra=BIG_HEADER * 60), 997)),
    broken(
        "headers-70k-one-write",
        ok(extra=BIG_HEADER * 70),
        error="headers over 65536 bytes",
        aiohttp="its limit is per line (8,190 bytes), not per head",
    ),
    broken(
        "headers-70k-many-writes",
        *_split(ok(extra=BIG_HEADER * 70), 997),
        error="headers over 65536 bytes",
        aiohttp="its limit is per line, not per head",
    ),
    broken(
        "one-70k-header-many-writes",
        *_split(ok(extra=b"x-big: " + b"a" * 70000 + b"\r\n"), 4096),
        error="headers over 65536 bytes",
    ),
    broken(
        "interim-and-final-heads-70k",
        b"HTTP/1.1 103 Early Hints\r\n" + BIG_HEADER * 35 + b"\r\n",
        Pause(0.05),
        ok(extra=BIG_HEADER * 35),
        error="headers over 65536 bytes",
        aiohttp="its limit is per line, not per head",
    ),
    # Encodings: what was offered is decoded; anything else is kept as received.
    delivered("gzip", ok(GZIPPED, b"content-encoding: gzip\r\n"), body=b'{"received": true}'),
    delivered(
        "x-gzip",
        ok(GZIPPED, b"content-encoding: x-gzip\r\n"),
        body=b'{"received": true}',
        aiohttp="returns the compressed bytes; RFC 9110 asks for x-gzip to be read as gzip",
    ),
    delivered(
        "deflate-zlib-wrapped",
        ok(zlib.compress(b"inflated"), b"content-encoding: deflate\r\n"),
        body=b"inflated",
    ),
    delivered(
        "deflate-raw",
        ok(_raw_deflate(b"inflated"), b"content-encoding: deflate\r\n"),
        body=b"inflated",
    ),
    delivered(
        "gzip-chunked",
        b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: "
        b"chunked\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(GZIPPED), GZIPPED),
        body=b'{"received": true}',
    ),
    delivered("identity", ok(b"plain", b"content-encoding: identity\r\n"), body=b"plain"),
    delivered(
        "brotli-not-offered",
        ok(b"\x1b\x03\x00\xf8", b"content-encoding: br\r\n"),
        body=b"\x1b\x03\x00\xf8",
        note="not asked for (br)",
        aiohttp="fails the read (it cannot decode br without brotli installed)",
    ),
    delivered(
        "gzip-corrupt",
        ok(b"not gzip at all", b"content-encoding: gzip\r\n"),
        body=b"not gzip at all",
        note="could not be decoded",
        aiohttp="fails the read",
    ),
    delivered(
        "gzip-cut-short",
        ok(GZIPPED[:-8], b"content-encoding: gzip\r\n"),
        body=b'{"received": true}',
        note="ended before its compressed stream did",
    ),
    delivered(
        "two-codings",
        ok(GZIPPED, b"content-encoding: gzip, gzip\r\n"),
        body=GZIPPED,
        note="not asked for (gzip, gzip)",
        aiohttp="fails the read",
    ),
    # The connection ends at each stage of the answer.
    broken("fin-before-any-byte", FIN, error="closed the connection without answering"),
    broken("reset-after-the-request", RESET, error="reset the connection without answering"),
    broken(
        "fin-after-status-line",
        b"HTTP/1.1 200 OK\r\n",
        FIN,
        error="closed in the middle of the response head",
    ),
    broken(
        "fin-mid-header",
        b"HTTP/1.1 200 OK\r\ncontent-le",
        FIN,
        error="closed in the middle of the response head",
    ),
    broken(
        "fin-after-head",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
        FIN,
        status=200,
        error="closed after 0 of the 5 body bytes",
    ),
    broken(
        "fin-mid-chunk",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nok",
        FIN,
        status=200,
        body=b"ok",
        error="before the end of the chunked body",
    ),
    broken(
        "reset-mid-head",
        b"HTTP/1.1 200 OK\r\ncontent-le",
        Pause(0.05),
        RESET,
        error="closed in the middle of the response head",
    ),
    delivered("reset-after-complete-answer", ok(), Pause(0.05), RESET, reused=False),
    broken("silence", HANG, error="no complete response within"),
    broken(
        "trickled-body",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\no",
        HANG,
        error="no complete response within",
    ),
    # Statuses that are not a success.
    Case(
        "500",
        (ok(b"boom", status=b"500 Internal Server Error"),),
        500,
        b"boom",
        "500 Internal Server Error: an error on its side",
        reused=True,
    ),
    Case(
        "301",
        (ok(b"", b"location: https://elsewhere.example/\r\n", b"301 Moved"),),
        301,
        error="a redirect to https://elsewhere.example/; redirects are not followed",
        reused=True,
    ),
    Case("410", (ok(b"gone", status=b"410 Gone"),), 410, b"gone", "410 Gone", reused=True),
    Case(
        "429",
        (ok(b"", b"retry-after: 7\r\n", b"429 Too Many"),),
        429,
        error="asked to slow down",
        reused=True,
    ),
    Case(
        "404-keep-alive-body",
        (ok(b"nope", status=b"404 Not Found"),),
        404,
        b"nope",
        "404 Not Found: it refused the request",
        reused=True,
    ),
)
