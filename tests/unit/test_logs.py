"""Log lines: JSON or console rendering of structlog's and the standard library's
records through one sink, and the sink's one write per turn of the event loop."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from tidings.telemetry import logs


class CountingStream(io.BytesIO):
    """A binary stream that counts the writes it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)

    def isatty(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    logs.reset()
    root.handlers[:] = handlers
    root.setLevel(level)


def written(stream: io.BytesIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().decode().splitlines()]


def test_own_and_standard_library_lines_are_one_json_format() -> None:
    stream = CountingStream()
    logs.configure("json", "info", stream)
    logs.get_logger("tidings.delivery").info("attempt", msg_id="msg_1", status=200)
    logging.getLogger("uvicorn.error").warning("port %d busy", 8040)
    own, foreign = written(stream)
    assert own["event"] == "attempt" and own["msg_id"] == "msg_1" and own["status"] == 200
    assert (own["level"], own["logger"]) == ("info", "tidings.delivery")
    assert str(own["timestamp"]).endswith("Z")
    assert (foreign["event"], foreign["level"], foreign["logger"]) == (
        "port 8040 busy",
        "warning",
        "uvicorn.error",
    )


def test_lines_below_the_level_are_dropped() -> None:
    stream = CountingStream()
    logs.configure("json", "warning", stream)
    logs.get_logger("tidings").info("quiet")
    logging.getLogger("tidings").info("quiet too")
    logs.get_logger("tidings").error("loud")
    assert [line["event"] for line in written(stream)] == ["loud"]


def test_exceptions_are_rendered_into_the_json_line() -> None:
    stream = CountingStream()
    logs.configure("json", "info", stream)
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("tidings").exception("failed")
    (line,) = written(stream)
    assert "ValueError: broken" in str(line["exception"])


def test_console_lines_are_for_people() -> None:
    stream = CountingStream()
    logs.configure("console", "info", stream)
    logs.get_logger("tidings").info("attempt", status=200)
    text = stream.getvalue().decode()
    assert "attempt" in text and "status=200" in text
    assert not text.startswith("{")


def test_auto_is_json_unless_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert logs.wants_json("auto", io.StringIO())
    assert not logs.wants_json("auto", Terminal())
    assert logs.wants_json("json", Terminal())
    assert not logs.wants_json("console", io.StringIO())


def test_a_turn_of_the_loop_writes_its_lines_at_once() -> None:
    stream = CountingStream()
    sink = logs.LineSink(stream)

    async def burst() -> int:
        for number in range(100):
            sink.write(b"line %d" % number)
        before = stream.writes
        await asyncio.sleep(0)  # the loop turns: the batch goes out
        assert stream.writes == before + 1
        return before

    assert asyncio.run(burst()) == 0
    assert stream.getvalue().decode().splitlines() == [f"line {n}" for n in range(100)]


def test_warnings_and_lines_outside_a_loop_are_written_at_once() -> None:
    stream = CountingStream()
    sink = logs.LineSink(stream)
    sink.write(b"outside")
    assert stream.getvalue() == b"outside\n"

    async def urgent() -> None:
        sink.write(b"info")
        sink.write(b"error", urgent=True)  # takes the pending line with it, in order
        assert stream.getvalue() == b"outside\ninfo\nerror\n"

    asyncio.run(urgent())


def test_a_closed_stream_does_not_raise() -> None:
    stream = CountingStream()
    sink = logs.LineSink(stream)
    stream.close()
    sink.write(b"lost")  # logging must never stop delivery


def test_hot_lines_are_the_lines_structlog_writes() -> None:
    stream = CountingStream()
    logs.configure("json", "info", stream)
    fields = {"msg_id": "msg_1", "attempt": 2, "status": 500, "next_retry": None}
    logs.get_logger("tidings.delivery").info("attempt", **fields)
    logs.HotLogger("tidings.delivery").info("attempt", **fields)
    logs.HotLogger("tidings.delivery").warning("attempt, no retry left", **fields)
    slow, hot, warned = written(stream)
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
    assert re.match(stamp, str(slow["timestamp"])) and re.match(stamp, str(hot["timestamp"]))
    assert slow | {"timestamp": ""} == hot | {"timestamp": ""}
    assert (warned["level"], warned["event"]) == ("warning", "attempt, no retry left")


def test_hot_lines_respect_the_level_and_the_console_format() -> None:
    stream = CountingStream()
    logs.configure("json", "warning", stream)
    logs.HotLogger("tidings.delivery").info("attempt", status=200)
    assert stream.getvalue() == b""
    logs.configure("console", "info", stream)
    logs.HotLogger("tidings.delivery").info("attempt", status=200)
    text = stream.getvalue().decode()
    assert "attempt" in text and "status=200" in text and not text.startswith("{")
