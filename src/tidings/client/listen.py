"""`tidings listen`: follow a source live and forward its events to a local URL.

The source is found by uid (or created), then followed from the moment `listen`
starts through the long-polling `GET /ingest/api/v1/source/{id}/event`. Each event
is printed, POSTed to `--forward-to` with its exact bytes, its headers (less
hop-by-hop ones) and its query string, one at a time in the order received, and
the local answer is printed. A local service that is down or fails is reported and
listening goes on; a server that goes away while listening is retried. Ctrl-C or
SIGTERM stops it with status 0; a server that refuses the token or cannot be
reached at start ends it with a one-line error and status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import yarl
from rich.console import Console
from rich.text import Text

from tidings.client.listen_options import (
    DEFAULT_SERVER,
    DEFAULT_TYPE,
    SERVER_ENV,
    TOKEN_ENV,
)

SOURCES = "/ingest/api/v1/source"
# Seconds each long poll waits on the server (its maximum is 30).
POLL_WAIT = 25
API_TIMEOUT = 15.0
FORWARD_TIMEOUT = 30.0
RETRY_MAX_DELAY = 5.0
PREVIEW_CHARS = 100
RESPONSE_BYTES = 16 * 1024
SHOWN_HEADERS = 3
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Headers that describe one connection, not the event; Host and Content-Length are
# set for the local request by the client.
NOT_FORWARDED = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
# Headers most requests carry, left out of the short summary printed per event.
UNREMARKABLE = frozenset(
    {
        "content-type",
        "user-agent",
        "accept",
        "accept-encoding",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-real-ip",
        "via",
        *NOT_FORWARDED,
    }
)
# Whatever the sender sent or did not send, aiohttp adds nothing of its own.
NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class ListenError(Exception):
    """Ends `tidings listen` with a one-line message and status 1."""


class ServerUnavailable(ListenError):
    """The server could not be reached or answered 5xx: worth retrying once listening."""


@dataclass(frozen=True)
class Options:
    forward_to: str
    server: str
    token: str
    source: str
    source_type: str | None  # None: not given (a new source is a generic webhook)
    secret: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str]) -> Options:
        token = args.token or environ.get(TOKEN_ENV)
        if not token:
            raise ListenError(f"no API token: pass --token or set {TOKEN_ENV}")
        server = args.server or environ.get(SERVER_ENV) or DEFAULT_SERVER
        for flag, url in (("--forward-to", args.forward_to), ("--server", server)):
            if yarl.URL(url).scheme not in ("http", "https") or not yarl.URL(url).host:
                raise ListenError(f"{flag} must be an http:// or https:// URL, got {url!r}")
        return cls(
            forward_to=args.forward_to,
            server=server.rstrip("/"),
            token=token,
            source=args.source,
            source_type=args.source_type,
            secret=args.secret,
        )


@dataclass(frozen=True)
class Event:
    id: str
    received_at: datetime
    delivery_id: str | None
    headers: dict[str, str]
    query: str
    body: bytes

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Event:
        return cls(
            id=item["id"],
            received_at=datetime.fromisoformat(item["receivedAt"]),
            delivery_id=item.get("deliveryId"),
            headers=dict(item.get("headers") or {}),
            query=item.get("query") or "",
            body=base64.b64decode(item["body"]),
        )


@dataclass(frozen=True)
class Forwarded:
    """The local service's answer, or why there was none (`status` None)."""

    status: int | None
    reason: str
    duration_ms: float
    body: bytes = b""


# the Tidings API -----------------------------------------------------------------


class SourceApi:
    """The calls `listen` makes to the Tidings API, with errors as `ListenError`s."""

    def __init__(self, session: aiohttp.ClientSession, server: str, token: str) -> None:
        self._session = session
        self._server = server
        self._auth = {"Authorization": f"Bearer {token}"}

    async def find_or_create(self, options: Options) -> tuple[dict[str, Any], bool]:
        """The source named `options.source`, and whether it was created now."""
        path = f"{SOURCES}/{quote(options.source, safe='')}"
        status, found = await self._call("GET", path, allow=(404,))
        if status == 200:
            return found, False
        config = {"secret": options.secret} if options.secret else {}
        wanted = {
            "name": options.source,
            "uid": options.source,
            "type": options.source_type or DEFAULT_TYPE,
            "config": config,
        }
        status, created = await self._call("POST", SOURCES, json=wanted, allow=(409,))
        if status == 409:  # another listener created it meanwhile
            _, found = await self._call("GET", path)
            return found, False
        return created, True

    async def events(self, source_id: str, iterator: str, wait: float) -> tuple[list[Event], str]:
        params = {"iterator": iterator, "wait": str(wait)}
        path = f"{SOURCES}/{quote(source_id, safe='')}/event"
        _, page = await self._call("GET", path, params=params, seconds=wait + API_TIMEOUT)
        return [Event.from_json(item) for item in page["data"]], page["iterator"]

    async def _call(
        self,
        method: str,
        path: str,
        allow: tuple[int, ...] = (),
        seconds: float = API_TIMEOUT,
        **kwargs: Any,
    ) -> tuple[int, dict[str, Any]]:
        url = self._server + path
        try:
            async with self._session.request(
                method,
                url,
                headers=self._auth,
                timeout=aiohttp.ClientTimeout(total=seconds),
                **kwargs,
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ServerUnavailable(f"cannot reach {self._server}: {_reason(exc)}") from None
        if response.status < 400 or response.status in allow:
            return response.status, _json(body, url)
        raise _api_error(response.status, body, url)


def _json(body: bytes, url: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ListenError(f"{url} did not answer a JSON object: is it a Tidings server?")
    return parsed


def _api_error(status: int, body: bytes, url: str) -> ListenError:
    if status == 401:
        return ListenError(f"the server refused the token (401); check --token or {TOKEN_ENV}")
    detail = _detail(body)
    if status >= 500:
        return ServerUnavailable(f"{url} answered {status}: {detail}")
    return ListenError(f"{url} answered {status}: {detail}")


def _detail(body: bytes) -> str:
    """The error's detail: Svix's `{"detail": "..."}` or the 422 list, else the text."""
    try:
        detail = json.loads(body)["detail"]
    except (ValueError, TypeError, KeyError):
        return _preview(body)
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.os_error.strerror or str(exc.os_error)
    return str(exc) or type(exc).__name__


# forwarding -----------------------------------------------------------------------


def forward_url(forward_to: str, query: str) -> yarl.URL:
    """`forward_to` with the event's query string appended exactly as it arrived."""
    if not query:
        return yarl.URL(forward_to)
    separator = "&" if yarl.URL(forward_to).raw_query_string else "?"
    return yarl.URL(str(yarl.URL(forward_to)) + separator + query, encoded=True)


def forward_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The event's headers less those of its connection, including any that its own
    Connection header names."""
    named = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    return {
        name: value
        for name, value in headers.items()
        if name.lower() not in NOT_FORWARDED and name.lower() not in named
    }


async def forward(session: aiohttp.ClientSession, forward_to: str, event: Event) -> Forwarded:
    started = time.monotonic()
    try:
        async with session.post(
            forward_url(forward_to, event.query),
            data=event.body,
            headers=forward_headers(event.headers),
            skip_auto_headers=NO_AUTO_HEADERS,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT),
        ) as response:
            body = await response.content.read(RESPONSE_BYTES)
            return Forwarded(response.status, response.reason or "", _ms(started), body)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Forwarded(None, _reason(exc), _ms(started))


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


# printing -------------------------------------------------------------------------


def _preview(body: bytes, chars: int = PREVIEW_CHARS) -> str:
    """One short line of `body`: whitespace collapsed, unprintables shown as `·`."""
    text = " ".join(body[: chars * 4].decode("utf-8", "replace").split())
    text = "".join(c if c.isprintable() else "·" for c in text)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _size(count: int) -> str:
    return f"{count} B" if count < 1024 else f"{count / 1024:.1f} KiB"


def _summary(headers: Mapping[str, str]) -> str:
    remarkable = [(k, v) for k, v in headers.items() if k not in UNREMARKABLE]
    shown = [f"{name}: {_preview(value.encode(), 40)}" for name, value in remarkable]
    more = len(shown) - SHOWN_HEADERS
    return " · ".join(shown[:SHOWN_HEADERS] + ([f"+{more} more"] if more > 0 else []))


class Printer:
    def __init__(self, console: Console) -> None:
        self.console = console

    def started(self, source: Mapping[str, Any], created: bool, forward_to: str) -> None:
        name = source.get("uid") or source["id"]
        self.console.print(
            Text.assemble(
                "Created source " if created else "Reusing source ",
                (name, "bold"),
                f" ({source['type']}, {source['id']})",
            )
        )
        self.console.print(Text.assemble("  ingest URL  ", (source["ingestUrl"], "cyan")))
        self.console.print(Text.assemble("  forward to  ", (forward_to, "cyan")))
        self.console.print("Waiting for events; Ctrl-C to stop.", style="dim")

    def event(self, event: Event, target: yarl.URL) -> None:
        when = event.received_at.astimezone().strftime("%H:%M:%S")
        line = Text.assemble(
            (when, "dim"), "  ", ("POST", "bold"), f" {target.raw_path_qs}  ", (event.id, "bold")
        )
        if event.delivery_id:
            line.append(f"  delivery {event.delivery_id}", style="dim")
        self.console.print(line)
        content_type = event.headers.get("content-type", "no content-type")
        details = f"  {content_type} · {_size(len(event.body))}"
        summary = _summary(event.headers)
        self.console.print(Text(details + (f" · {summary}" if summary else ""), style="dim"))
        self.console.print(Text("  " + (_preview(event.body) or "(empty body)")))

    def forwarded(self, result: Forwarded, target: str) -> None:
        took = f"{result.duration_ms:.0f} ms"
        if result.status is None:
            self.console.print(
                Text(f"  ✗ {target} did not answer: {result.reason} ({took})", style="bold red")
            )
            return
        style = "green" if result.status < 300 else "yellow" if result.status < 400 else "red"
        line = Text.assemble(
            "  → ", (f"{result.status} {result.reason}", f"bold {style}"), f" in {took}"
        )
        if result.body:
            line.append(f"  {_preview(result.body)}", style="dim")
        self.console.print(line)

    def notice(self, message: str, style: str = "yellow") -> None:
        self.console.print(Text(message, style=style))


# the command ----------------------------------------------------------------------


async def _follow(
    api: SourceApi,
    session: aiohttp.ClientSession,
    printer: Printer,
    source_id: str,
    iterator: str,
    forward_to: str,
) -> None:
    """Forward each event after `iterator`, forever; retry a server that went away."""
    failures = 0
    while True:
        try:
            events, iterator = await api.events(source_id, iterator, POLL_WAIT)
        except ServerUnavailable as exc:
            failures += 1
            if failures == 1:
                printer.notice(f"{exc}; retrying")
            await asyncio.sleep(min(0.25 * 2**failures, RETRY_MAX_DELAY))
            continue
        if failures:
            printer.notice("server reachable again", style="green")
            failures = 0
        for event in events:
            printer.event(event, forward_url(forward_to, event.query))
            printer.forwarded(await forward(session, forward_to, event), forward_to)


async def _listen(options: Options, printer: Printer) -> None:
    jar = aiohttp.DummyCookieJar()  # forward each event as sent, with no cookies added
    async with aiohttp.ClientSession(cookie_jar=jar, trust_env=False) as session:
        api = SourceApi(session, options.server, options.token)
        source, created = await api.find_or_create(options)
        changed = options.source_type not in (None, source["type"])
        if not created and (changed or options.secret):
            printer.notice("the source exists: --type and --secret apply only to a new one")
        # Only events that arrive from now on: take the newest one's iterator first.
        _, iterator = await api.events(source["id"], "latest", 0)
        printer.started(source, created, options.forward_to)
        await _follow(api, session, printer, source["id"], iterator, options.forward_to)


async def _until_signal(work: Coroutine[Any, Any, None]) -> bool:
    """Run `work` until it ends or SIGINT/SIGTERM arrives; True if a signal stopped it."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, task.cancel)
    try:
        await asyncio.wait([task])
    finally:
        task.cancel()
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    if task.cancelled():
        return True
    task.result()
    return False


async def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> None:
    """The `tidings listen` command."""
    printer = Printer(Console(highlight=False, soft_wrap=True))
    try:
        options = Options.from_args(args, os.environ if environ is None else environ)
        if await _until_signal(_listen(options, printer)):
            printer.notice("stopped", style="dim")
    except ListenError as exc:
        raise SystemExit(f"tidings listen: {exc}") from None
