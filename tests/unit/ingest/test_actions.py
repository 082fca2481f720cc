"""Command and Python actions, run for real: processes, pipes, signals, threads."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from tidings.domain.outcomes import Outcome
from tidings.ingest.actions import InboundWebhook
from tidings.ingest.actions.base import OUTPUT_CAP, Condition, Limits
from tidings.ingest.actions.command import CommandAction
from tidings.ingest.actions.python_call import PythonAction
from tidings.ingest.actions.templates import parse

EVENT = InboundWebhook(
    id="msg_1",
    source_id="src_1",
    source_uid="deploys",
    source_type="github",
    body=b'{"ref": "refs/heads/main", "n": 1}\n',
    headers={"x-github-event": "push"},
    query="env=prod",
    delivery_id="d-9",
    attempt=2,
)


def command(
    tmp_path: Path,
    script: str,
    *args: str,
    timeout: float = 10.0,
    env: dict[str, str] | None = None,
    inherit: tuple[str, ...] = (),
    match: tuple[Condition, ...] = (),
) -> CommandAction:
    program = tmp_path / "action.sh"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(0o755)
    return CommandAction(
        name="a",
        limits=Limits(timeout=timeout),
        match=match,
        argv=(parse(str(program)), *(parse(a) for a in args)),
        env={k: parse(v) for k, v in (env or {}).items()},
        inherit_env=inherit,
        stdin=True,
        cwd=str(tmp_path),
    )


def run(action: CommandAction | PythonAction, event: InboundWebhook = EVENT) -> Outcome:
    return asyncio.run(action.perform(event))


def test_arguments_environment_and_stdin_come_from_the_event(tmp_path: Path) -> None:
    script = 'echo "args: $1 $2"; echo "env: $REF $EVENT $TIDINGS_EVENT_ID $TIDINGS_ATTEMPT"; cat'
    env = {"REF": "{payload.ref}", "EVENT": "{header.x-github-event}"}
    action = command(tmp_path, script, "{payload.ref}", "{query.env}", env=env)
    outcome = run(action)
    assert (outcome.succeeded, outcome.status_code, outcome.error) == (True, 200, None)
    assert outcome.response == (
        "args: refs/heads/main prod\nenv: refs/heads/main push msg_1 2\n"
        '{"ref": "refs/heads/main", "n": 1}\n'
    )


def test_only_named_variables_of_our_environment_reach_the_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_TEST_SECRET_DB", "postgresql://secret")
    monkeypatch.setenv("TEST_WANTED", "yes")
    script = 'echo "[$TIDINGS_TEST_SECRET_DB] [$TEST_WANTED] [$PATH]"'
    outcome = run(command(tmp_path, script, inherit=("TEST_WANTED",)))
    assert outcome.response == f"[] [yes] [{os.environ['PATH']}]\n"


def test_the_inherited_environment_is_read_once_per_loaded_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_WANTED", "first")
    action = command(tmp_path, 'echo "[$TEST_WANTED]"', inherit=("TEST_WANTED",))
    assert run(action).response == "[first]\n"
    monkeypatch.setenv("TEST_WANTED", "second")
    assert run(action).response == "[first]\n"
    # A config reload builds its actions anew, and they read the environment again.
    reloaded = command(tmp_path, 'echo "[$TEST_WANTED]"', inherit=("TEST_WANTED",))
    assert run(reloaded).response == "[second]\n"


def test_a_non_zero_exit_fails_with_its_status_and_output(tmp_path: Path) -> None:
    outcome = run(command(tmp_path, "echo out; echo oops >&2; exit 3"))
    assert (outcome.succeeded, outcome.status_code) == (False, 500)
    assert outcome.error == "exited with status 3"
    assert outcome.response == "out\n\n--- stderr ---\noops\n"


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild-survived"
    script = f"(sleep 3; touch {marker}) &\necho started\nsleep 30\n"
    started = time.monotonic()
    outcome = run(command(tmp_path, script, timeout=0.5))
    assert (outcome.succeeded, outcome.status_code) == (False, 0)
    assert outcome.error == "killed after the 0.5s timeout"
    assert outcome.response == "started\n"
    assert time.monotonic() - started < 10  # not the 30 s the program wanted
    time.sleep(3.5)
    assert not marker.exists(), "the background grandchild outlived the timeout"


def test_output_is_capped_and_the_rest_drained(tmp_path: Path) -> None:
    # 1 MiB of output: far above the cap, and above a pipe's buffer, so a program
    # whose output were not drained would block forever.
    outcome = run(command(tmp_path, "head -c 1048576 /dev/zero | tr '\\0' x"))
    assert outcome.succeeded
    assert outcome.response.startswith("x" * (OUTPUT_CAP // 2))
    assert "more bytes of output not kept" in outcome.response
    assert len(outcome.response) < OUTPUT_CAP + 200


def test_a_program_that_ignores_stdin_still_succeeds(tmp_path: Path) -> None:
    big = InboundWebhook(
        id="m", source_id="s", source_uid=None, source_type="x", body=b"y" * (1024 * 1024)
    )
    assert run(command(tmp_path, "exit 0"), big).succeeded


def test_a_program_that_cannot_start_is_a_failed_attempt(tmp_path: Path) -> None:
    action = command(tmp_path, "exit 0")
    Path(action.argv[0].source).unlink()
    outcome = run(action)
    assert (outcome.succeeded, outcome.status_code) == (False, 0)
    assert "could not start" in (outcome.error or "")


def test_unmatched_events_are_skipped_and_say_why(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    condition = Condition(parse("{payload.ref}"), "refs/heads/release")
    outcome = run(command(tmp_path, f"touch {marker}", match=(condition,)))
    assert (outcome.succeeded, outcome.status_code) == (True, 200)
    expected = "skipped: {payload.ref} is 'refs/heads/main', not 'refs/heads/release'"
    assert outcome.response == expected
    assert not marker.exists()


def python(function: object, timeout: float = 5.0) -> PythonAction:
    return PythonAction(
        name="p", limits=Limits(timeout=timeout), match=(), target="t:f", function=function
    )  # type: ignore[arg-type]


def test_python_functions_sync_and_async_receive_the_event() -> None:
    def sync(event: InboundWebhook) -> dict[str, object]:
        return {"ref": event.json()["ref"], "event": event.header("X-GitHub-Event")}

    async def asynchronous(event: InboundWebhook) -> str:
        await asyncio.sleep(0)
        return f"{event.id} attempt {event.attempt} env={event.query_params['env']}"

    first = run(python(sync))
    assert (first.succeeded, first.status_code) == (True, 200)
    assert first.response == '{"ref":"refs/heads/main","event":"push"}'
    assert run(python(asynchronous)).response == "msg_1 attempt 2 env=prod"
    assert run(python(lambda event: None)).response == ""


def test_python_exceptions_fail_with_the_traceback() -> None:
    def broken(event: InboundWebhook) -> None:
        raise KeyError("customer")

    outcome = run(python(broken))
    assert (outcome.succeeded, outcome.status_code) == (False, 500)
    assert outcome.error == "KeyError: 'customer'"
    assert "Traceback" in outcome.response and "in broken" in outcome.response


def test_python_timeouts_fail_sync_and_async() -> None:
    async def hangs(event: InboundWebhook) -> None:
        await asyncio.sleep(30)

    def blocks(event: InboundWebhook) -> None:
        time.sleep(1.5)

    for function in (hangs, blocks):
        outcome = run(python(function, timeout=0.2))
        assert (outcome.succeeded, outcome.status_code) == (False, 0)
        assert outcome.error == "no result within the 0.2s timeout"


def test_programs_that_exit_without_reading_stdin_succeed_every_time(tmp_path: Path) -> None:
    # Writing to the pipe of a program that already exited fails with EPIPE; the
    # run succeeded all the same, under uvloop as under asyncio.
    import uvloop

    action = command(tmp_path, "exit 0")
    big = InboundWebhook(
        id="m", source_id="s", source_uid=None, source_type="x", body=b"z" * (256 * 1024)
    )

    async def many() -> list[Outcome]:
        return list(await asyncio.gather(*(action.perform(big) for _ in range(30))))

    outcomes = uvloop.run(many())
    assert [o.error for o in outcomes if not o.succeeded] == []


def _event_with(body: bytes) -> InboundWebhook:
    return InboundWebhook(
        id="msg_2", source_id="src_1", source_uid="deploys", source_type="github", body=body
    )


def test_a_webhook_value_cannot_become_an_option(tmp_path: Path) -> None:
    dashing = _event_with(b'{"ref": "--upload-pack=touch /tmp/pwned"}')
    refused = run(command(tmp_path, 'echo "ran $1"', "{payload.ref}"), dashing)
    assert (refused.succeeded, refused.response) == (False, "")
    assert refused.error is not None and "argument 1 would start with '-'" in refused.error
    # Written into an option by the config, or after a literal "--", it is a value.
    assert run(command(tmp_path, 'echo "ran $1"', "--ref={payload.ref}"), dashing).succeeded
    after = run(command(tmp_path, 'echo "ran $2"', "--", "{payload.ref}"), dashing)
    assert after.response == "ran --upload-pack=touch /tmp/pwned\n"
    opted_in = command(tmp_path, 'echo "ran $1"', "{payload.ref}")
    opted_in = CommandAction(**{**opted_in.__dict__, "allow_dash": True})
    assert run(opted_in, dashing).succeeded


def test_a_nul_byte_from_the_webhook_is_refused_with_a_reason(tmp_path: Path) -> None:
    nul = _event_with(b'{"ref": "main\\u0000--evil"}')
    in_argument = run(command(tmp_path, "echo ran", "{payload.ref}"), nul)
    assert in_argument.error == ("argument 1 would contain a NUL byte (from the webhook): not run")
    in_variable = run(command(tmp_path, "echo ran", env={"REF": "{payload.ref}"}), nul)
    assert in_variable.error == "variable REF would contain a NUL byte (from the webhook): not run"
