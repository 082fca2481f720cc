"""Log lines: structlog, as JSON objects or for people, through one sink.

Tidings' own lines are structlog events with key-value fields; the standard
library's records (uvicorn's, a library's warnings) are rendered by the same
processors into the same stream, so an operator parses one format.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class LineSink:
    """Writes finished lines to a binary stream.

    Inside an event loop, the lines of one turn of the loop go out in one write
    after it: a worker logging each attempt of a recorded batch makes one system
    call for the batch, not one per line. Warnings and errors, and lines from
    threads without a loop, are written at once."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._pending: list[bytes] = []
        self._scheduled = False
        self._lock = threading.Lock()

    def write(self, line: bytes, urgent: bool = False) -> None:
        self._pending.append(line)
        if urgent:
            self.flush()
            return
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._lock:
            self._scheduled = False
            lines, self._pending = self._pending, []
            if not lines:
                return
            try:
                self._stream.write(b"\n".join(lines) + b"\n")
                self._stream.flush()
            except (OSError, ValueError):  # a closed stderr must not stop delivery
                pass


_URGENT = frozenset({"warning", "warn", "error", "critical", "exception", "fatal"})


class SinkLogger:
    """What structlog's bound loggers hand their rendered lines to."""

    def __init__(self, sink: LineSink, name: str) -> None:
        self._sink = sink
        self.name = name

    def __getattr__(self, method: str) -> Any:
        urgent = method in _URGENT

        def emit(message: str | bytes) -> None:
            line = message.encode() if isinstance(message, str) else message
            self._sink.write(line, urgent)

        return emit


class SinkHandler(logging.Handler):
    """The standard library's records, rendered by structlog into the same sink."""

    def __init__(self, sink: LineSink) -> None:
        super().__init__()
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # never raise out of logging
            self.handleError(record)
            return
        self._sink.write(line.encode(), record.levelno >= logging.WARNING)


def _json_bytes(_: WrappedLogger, __: str, event: EventDict) -> bytes:
    return orjson.dumps(event, default=str)


def _json_text(logger: WrappedLogger, name: str, event: EventDict) -> str:
    return _json_bytes(logger, name, event).decode()


def _logger_name(logger: WrappedLogger, _: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    name = record.name if record is not None else getattr(logger, "name", None)
    if name:
        event.setdefault("logger", name)
    return event


def _shared(json: bool) -> list[Processor]:
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json:
        processors.append(structlog.processors.format_exc_info)
    return processors


def wants_json(log_format: str, stream: Any) -> bool:
    """`auto` means JSON unless a person is watching the terminal."""
    return not _isatty(stream) if log_format == "auto" else log_format == "json"


def configure(log_format: str = "auto", level: str = "info", stream: Any = None) -> LineSink:
    """Route every log line of this process to `stream` (stderr by default)."""
    text_stream: Any = stream if stream is not None else sys.stderr
    binary: BinaryIO = getattr(text_stream, "buffer", None) or text_stream
    json = wants_json(log_format, text_stream)
    sink = LineSink(binary)
    atexit.register(sink.flush)
    threshold = LEVELS[level]
    shared = _shared(json)
    console = structlog.dev.ConsoleRenderer(colors=not json and _isatty(text_stream))
    structlog.configure(
        processors=[*shared, _json_bytes if json else console],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=lambda *names: SinkLogger(sink, names[0] if names else "tidings"),
        cache_logger_on_first_use=True,
    )
    handler = SinkHandler(sink)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _json_text if json else console,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    global _configured
    _configured = _Configured(sink, json, threshold)
    return sink


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


@dataclass(frozen=True)
class _Configured:
    sink: LineSink
    json: bool
    threshold: int


_configured: _Configured | None = None


class HotLogger:
    """For lines on a hot path (one per delivery attempt): with JSON output, the
    same object structlog renders, but made in one step, without its chain of
    processors (a third of the cost); otherwise, and before `configure`, structlog's
    own logger. Never a line structlog would not have written."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._fallback = structlog.get_logger(name)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, "warning", event, fields)

    def _emit(self, levelno: int, level: str, event: str, fields: dict[str, Any]) -> None:
        configured = _configured
        if configured is None or not configured.json:
            getattr(self._fallback, level)(event, **fields)
            return
        if levelno < configured.threshold:
            return
        fields["event"] = event
        fields["level"] = level
        fields["logger"] = self._name
        fields["timestamp"] = _timestamp()
        line = orjson.dumps(fields, default=str)
        configured.sink.write(line, levelno >= logging.WARNING)


def reset() -> None:
    """Forget `configure` (for tests): structlog's defaults, no sink of our own."""
    global _configured
    _configured = None
    structlog.reset_defaults()


_second: tuple[int, str] = (-1, "")


def _timestamp() -> str:
    """Now, as structlog's ISO stamp (`2026-12-07T17:58:02.114230Z`); the date and
    time of day are formatted once a second, not once a line."""
    global _second
    now = time.time()
    whole = int(now)
    if _second[0] != whole:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{int((now - whole) * 1_000_000):06d}Z"


def get_logger(name: str) -> Any:
    """A structlog logger: `get_logger("tidings.delivery").info("attempt", status=200)`."""
    return structlog.get_logger(name)
