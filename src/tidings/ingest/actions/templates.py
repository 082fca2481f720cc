"""Text templates that take values from an inbound webhook.

A template is plain text with `{…}` fields: `{payload.repository.full_name}`,
`{payload.commits.0.id}`, `{header.x-github-event}`, `{query.branch}`,
`{event.id}`, `{event.source}`, `{event.delivery_id}`, `{event.attempt}` and
`{payload}` (the whole body). `{{` and `}}` are literal braces. A path that is
missing or null gives an empty string; objects and lists give their JSON.

Templates are parsed when the config file is loaded, so a typo is refused then,
not when a webhook arrives. Values are passed as separate arguments, never
through a shell, so a payload cannot inject commands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tidings.ingest.actions.event import InboundWebhook

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_EVENT_FIELDS: dict[str, Callable[[InboundWebhook], object]] = {
    "id": lambda event: event.id,
    "source": lambda event: event.source_uid or event.source_id,
    "source_id": lambda event: event.source_id,
    "type": lambda event: event.source_type,
    "delivery_id": lambda event: event.delivery_id,
    "attempt": lambda event: event.attempt,
}


@dataclass(frozen=True)
class Field:
    kind: str  # payload, header, query or event
    path: tuple[str, ...]

    def value(self, event: InboundWebhook) -> str:
        if self.kind == "header":
            return event.header(self.path[0]) or ""
        if self.kind == "query":
            return event.query_params.get(self.path[0], "")
        if self.kind == "event":
            return _text(_EVENT_FIELDS[self.path[0]](event))
        if not self.path:
            return event.body.decode("utf-8", errors="replace")
        return _text(_walk(_json_or_none(event), self.path))


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Field, ...]

    def render(self, event: InboundWebhook) -> str:
        return "".join(p if isinstance(p, str) else p.value(event) for p in self.parts)

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(p for p in self.parts if isinstance(p, Field))


def parse(text: str) -> Template:
    """The template in `text`; ValueError naming what is wrong."""
    parts: list[str | Field] = []
    position = 0
    for match in _FIELD.finditer(text):
        parts.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif token in ("{", "}"):
            raise ValueError(f"unbalanced {token!r} in {text!r}; write {token * 2} for a brace")
        else:
            parts.append(parse_field(match.group(1)))
    parts.append(text[position:])
    return Template(text, tuple(p for p in parts if p != ""))


def parse_field(spec: str) -> Field:
    kind, _, rest = spec.strip().partition(".")
    if kind == "payload":
        path = tuple(rest.split(".")) if rest else ()
        if any(step == "" for step in path):
            raise ValueError(f"empty step in {{{spec}}}")
        return Field(kind, path)
    if kind in ("header", "query") and rest:
        return Field(kind, (rest.lower() if kind == "header" else rest,))
    if kind == "event" and rest in _EVENT_FIELDS:
        return Field(kind, (rest,))
    allowed = "payload[.path], header.NAME, query.NAME, event." + "|".join(_EVENT_FIELDS)
    raise ValueError(f"unknown field {{{spec}}}; use {allowed}")


def _json_or_none(event: InboundWebhook) -> Any:
    try:
        return event.json()
    except ValueError:
        return None


def _walk(value: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()
