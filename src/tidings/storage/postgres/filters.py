"""WHERE clauses built from optional filters, with numbered parameters.

asyncpg numbers its parameters ($1, $2, ...), so clauses that may or may not be
present take their numbers from one `Params` as they are added.
"""

from __future__ import annotations

from typing import Any

from tidings.domain.errors import InvalidInput
from tidings.domain.models import Application, AttemptFilter, MessageFilter
from tidings.storage import pagination


class Params:
    """The arguments of one statement; calling it adds a value and returns its `$n`."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def message_clauses(p: Params, query: MessageFilter, table: str = "message") -> list[str]:
    """Clauses shared by message and attempt listings (channel, tag, event types)."""
    clauses = []
    # `@>` rather than `= ANY`: the containment form can use a GIN index if one is added.
    if query.channel is not None:
        clauses.append(f"{table}.channels @> ARRAY[{p(query.channel)}::text]")
    if query.tag is not None:
        clauses.append(f"{table}.tags @> ARRAY[{p(query.tag)}::text]")
    if query.event_types:
        clauses.append(f"{table}.event_type = ANY({p(query.event_types)}::text[])")
    return clauses


def time_clauses(p: Params, column: str, before: int | None, after: int | None) -> list[str]:
    if before is not None and after is not None and after >= before:
        raise InvalidInput("after must be earlier than before", field="after", location="query")
    clauses = []
    if before is not None:
        clauses.append(f"{column} < {p(before)}")
    if after is not None:
        clauses.append(f"{column} > {p(after)}")
    return clauses


def attempt_clauses(p: Params, app: Application, query: AttemptFilter) -> list[str]:
    shared = MessageFilter(channel=query.channel, tag=query.tag, event_types=query.event_types)
    clauses = [f"attempt.app_key = {p(app.key)}", *message_clauses(p, shared)]
    if query.msg_key is not None:
        clauses.append(f"attempt.msg_key = {p(query.msg_key)}")
    if query.endpoint_key is not None:
        clauses.append(f"attempt.endpoint_key = {p(query.endpoint_key)}")
    if query.status is not None:
        clauses.append(f"attempt.status = {p(int(query.status))}")
    if query.status_code_class is not None:
        # 0 means "no response at all" (status code 0); 200 means 200-299, and so on.
        low = query.status_code_class
        clauses.append(
            f"attempt.response_status_code BETWEEN {p(low)} AND {p(low + 99 if low else 0)}"
        )
    return clauses + time_clauses(p, "attempt.created_at", query.before, query.after)


def page_query(select: str, where: list[str], p: Params, walk: pagination.Walk, key: str) -> str:
    """One page of `select`, keyed and ordered by `key`, one row more than the limit."""
    if walk.cursor.after_key is not None:
        where = [*where, f"{key} {walk.comparison} {p(walk.cursor.after_key)}"]
    condition = " AND ".join(where) or "true"
    return f"{select} WHERE {condition} ORDER BY {key} {walk.order} LIMIT {p(walk.fetch)}"
