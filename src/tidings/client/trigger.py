"""`tidings trigger TYPE [EVENT] --to URL`: POST one signed sample event of a provider.

For trying a source end to end without the provider: the request carries the body,
headers and signature the provider would send (see `tidings.client.samples`). It is
sent once; the status and the start of the response are printed, and the exit code
is 0 for a 2xx, 1 for any other answer or none, and 2 for bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TextIO
from urllib.parse import urlsplit

from tidings.client import samples
from tidings.client.samples import OPTION_KEYS, Options, SampleError, SignedRequest

SECRET_ENV = "TIDINGS_TRIGGER_SECRET"
TIMEOUT_SECONDS = 30.0
# The response is read up to this many bytes, and printed up to SHOWN characters.
MAX_RESPONSE_BYTES = 64 * 1024
SHOWN = 500
EXIT_FAILED = 1
EXIT_USAGE = 2


async def run(args: argparse.Namespace) -> None:
    """The command; exits non-zero (SystemExit) unless the answer was a 2xx."""
    code = await _run(args)
    if code:
        raise SystemExit(code)


async def _run(args: argparse.Namespace) -> int:
    try:
        if args.list:
            print_list(args.type, sys.stdout)
            return 0
        request = signed_request(args, os.environ)
    except SampleError as exc:
        print(f"tidings trigger: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.type} {args.event or samples.default_event(args.type)} -> {request.url}")
    return await send(request, sys.stdout)


def print_list(source_type: str | None, out: TextIO) -> None:
    """Every type with its events (the default first), or one type's events."""
    if source_type is not None:
        default = samples.default_event(source_type)
        for name in samples.event_names(source_type):
            print(f"{name} (default)" if name == default else name, file=out)
        return
    width = max(len(name) for name in samples.PROVIDERS)
    for name in samples.PROVIDERS:
        print(f"{name:<{width}}  {', '.join(_ordered_events(name))}", file=out)


def _ordered_events(source_type: str) -> list[str]:
    default = samples.default_event(source_type)
    return [default, *(n for n in samples.event_names(source_type) if n != default)]


def signed_request(args: argparse.Namespace, environ: Mapping[str, str]) -> SignedRequest:
    """The request the arguments describe; SampleError naming what is wrong."""
    if not args.type:
        raise SampleError("name a source type (TYPE), or use --list")
    if not args.to:
        raise SampleError("--to URL is required: the source's ingest URL")
    _check_url(args.to)
    secret = args.secret or environ.get(SECRET_ENV) or None
    if secret is None and samples.provider(args.type).needs_secret:
        raise SampleError(f"{args.type} needs the source's secret: --secret or {SECRET_ENV}")
    return samples.build(args.type, args.event, url=args.to, secret=secret, options=_options(args))


def _options(args: argparse.Namespace) -> Options:
    given = {key: getattr(args, key) for key in OPTION_KEYS}
    return Options.from_config({key: value for key, value in given.items() if value is not None})


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        usable = parts.scheme in {"http", "https"} and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad IPv6 literal or port
        usable = False
    if not usable:
        raise SampleError(f"--to must be an http:// or https:// URL, got {url!r}")


async def send(request: SignedRequest, out: TextIO) -> int:
    """POST the request once, print the answer; 0 for a 2xx, else EXIT_FAILED."""
    # Imported here so that `tidings --help` and the other commands do not load it.
    import aiohttp
    from yarl import URL

    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    try:
        # encoded=True: the URL is sent byte for byte as given, since Twilio signs it.
        url = URL(request.url, encoded=True)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(
                url, data=request.body, headers=request.headers, allow_redirects=False
            ) as response,
        ):
            body = await response.content.read(MAX_RESPONSE_BYTES)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        print(
            f"tidings trigger: no answer from {request.url}: {exc or type(exc).__name__}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"{response.status} {response.reason or ''}".rstrip(), file=out)
    print(_shorten(body.decode("utf-8", "replace")), file=out)
    return 0 if 200 <= response.status < 300 else EXIT_FAILED


def _shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SHOWN else text[:SHOWN] + f"… ({len(text)} characters)"
