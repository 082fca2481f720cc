"""Templates that take action arguments and environment from a webhook."""

from __future__ import annotations

import pytest

from tidings.ingest.actions import InboundWebhook
from tidings.ingest.actions.templates import parse

EVENT = InboundWebhook(
    id="msg_1",
    source_id="src_1",
    source_uid="deploys",
    source_type="github",
    body=b'{"ref": "refs/heads/main", "repository": {"full_name": "acme/api"}, '
    b'"commits": [{"id": "abc"}, {"id": "def"}], "forced": false, "size": 2, "x": null}',
    headers={"x-github-event": "push"},
    query="branch=main&empty=",
    delivery_id="d-1",
    attempt=3,
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{payload.ref}", "refs/heads/main"),
        ("repo={payload.repository.full_name}!", "repo=acme/api!"),
        ("{payload.commits.1.id}", "def"),
        ("{payload.commits.9.id}", ""),
        ("{payload.forced} {payload.size} [{payload.x}] [{payload.missing.deep}]", "false 2 [] []"),
        ("{payload.repository}", '{"full_name":"acme/api"}'),
        ("{header.X-GitHub-Event}", "push"),
        ("{header.x-absent}", ""),
        ("{query.branch}/{query.empty}/{query.none}", "main//"),
        (
            "{event.id} {event.source} {event.type} {event.delivery_id} {event.attempt}",
            "msg_1 deploys github d-1 3",
        ),
        ("{{literal}} and {{{payload.size}}}", "{literal} and {2}"),
        ("no fields", "no fields"),
    ],
)
def test_fields_render_from_the_event(template: str, expected: str) -> None:
    assert parse(template).render(EVENT) == expected


def test_the_whole_payload_and_non_json_bodies() -> None:
    raw = InboundWebhook(
        id="m", source_id="s", source_uid=None, source_type="hmac", body=b"a=1&b=2"
    )
    assert parse("{payload}").render(raw) == "a=1&b=2"
    assert parse("[{payload.a}]").render(raw) == "[]"  # not JSON: no paths
    assert parse("{event.source}").render(raw) == "s"
    with pytest.raises(ValueError, match="not JSON"):
        raw.json()


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{unknown.x}", "unknown field {unknown.x}"),
        ("{header}", "unknown field {header}"),
        ("{event.nope}", "unknown field {event.nope}"),
        ("{payload..a}", "empty step"),
        ("a } b", "unbalanced '}'"),
        ("{a", "unbalanced '{'"),
    ],
)
def test_bad_templates_are_refused_naming_the_problem(template: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        parse(template)
