"""Which `traceparent` values are kept, and what a message keeps without tracing."""

from __future__ import annotations

import pytest

from tidings.telemetry import traces

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        (GOOD, GOOD),
        (" " + GOOD.upper() + " ", GOOD),  # case and spaces do not matter
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", GOOD[:-1] + "0"),
        (None, None),
        ("", None),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),  # version
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),  # no trace
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),  # no parent
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", None),  # short
        (GOOD + "-extra", None),
        (GOOD + "\r\nx-injected: 1", None),  # never a header of its own
        ("00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
    ],
)
def test_only_well_formed_trace_contexts_are_kept(header: str | None, kept: str | None) -> None:
    assert traces.valid(header) == kept


def test_without_tracing_a_message_keeps_the_senders_context() -> None:
    traces.disable()
    with traces.message_created("app_1", "msg_1", "a.b", GOOD) as context:
        assert context == GOOD
    with traces.message_created("app_1", "msg_1", "a.b", "garbage") as context:
        assert context is None
    with traces.attempt(GOOD, {}) as (traceparent, span):
        assert (traceparent, span) == (GOOD, None)
