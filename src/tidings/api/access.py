"""What each route needs of a token, in one table a reviewer can read whole.

Routes are keyed by method and path template, as in the OpenAPI spec. A route
missing here needs an admin token, so a new route is closed to scoped tokens
until someone decides otherwise (and the BOLA test fails until the table names
it). Sources and operational webhooks are the operator's: admin only.
"""

from __future__ import annotations

from starlette.types import Scope

from tidings.domain.access import Grant, Need, TokenKind

_APP = "/api/v1/app/{app_id}"
_ENDPOINT = _APP + "/endpoint/{endpoint_id}"
_MESSAGE = _APP + "/msg/{msg_id}"

NEEDS: dict[tuple[str, str], Need] = {
    ("GET", "/api/v1/health"): Need.PUBLIC,
    # Applications: listing and creating them is the operator's.
    ("GET", "/api/v1/app"): Need.ADMIN,
    ("POST", "/api/v1/app"): Need.ADMIN,
    ("GET", _APP): Need.READ,
    ("PATCH", _APP): Need.WRITE,
    ("PUT", _APP): Need.ADMIN,  # may create an application
    ("DELETE", _APP): Need.ADMIN,
    # Endpoints.
    ("GET", _APP + "/endpoint"): Need.READ,
    ("POST", _APP + "/endpoint"): Need.MANAGE_ENDPOINTS,
    ("GET", _ENDPOINT): Need.READ,
    ("PUT", _ENDPOINT): Need.MANAGE_ENDPOINTS,
    ("PATCH", _ENDPOINT): Need.MANAGE_ENDPOINTS,
    ("DELETE", _ENDPOINT): Need.MANAGE_ENDPOINTS,
    ("GET", _ENDPOINT + "/headers"): Need.READ,
    ("PUT", _ENDPOINT + "/headers"): Need.MANAGE_ENDPOINTS,
    ("PATCH", _ENDPOINT + "/headers"): Need.MANAGE_ENDPOINTS,
    ("GET", _ENDPOINT + "/secret"): Need.VIEW_SECRET,
    ("POST", _ENDPOINT + "/secret/rotate"): Need.ROTATE_SECRET,
    ("POST", _ENDPOINT + "/recover"): Need.CREATE_ATTEMPTS,
    ("POST", _ENDPOINT + "/replay-missing"): Need.CREATE_ATTEMPTS,
    # Messages and attempts.
    ("GET", _APP + "/msg"): Need.READ,
    ("POST", _APP + "/msg"): Need.WRITE,
    ("GET", _MESSAGE): Need.READ,
    ("GET", _MESSAGE + "/endpoint"): Need.READ,
    ("GET", _MESSAGE + "/attempt/{attempt_id}"): Need.READ,
    ("POST", _MESSAGE + "/endpoint/{endpoint_id}/resend"): Need.CREATE_ATTEMPTS,
    ("GET", _APP + "/attempt/endpoint/{endpoint_id}"): Need.READ,
    ("GET", _APP + "/attempt/msg/{msg_id}"): Need.READ,
    # The event type catalog is shared: anyone may read it, the operator edits it.
    ("GET", "/api/v1/event-type"): Need.READ,
    ("GET", "/api/v1/event-type/{event_type_name}"): Need.READ,
    ("POST", "/api/v1/event-type"): Need.ADMIN,
    ("PUT", "/api/v1/event-type/{event_type_name}"): Need.ADMIN,
    ("PATCH", "/api/v1/event-type/{event_type_name}"): Need.ADMIN,
    ("DELETE", "/api/v1/event-type/{event_type_name}"): Need.ADMIN,
    # Tokens.
    ("POST", "/api/v1/auth/app-portal-access/{app_id}"): Need.ADMIN,
    ("POST", "/api/v1/auth/app/{app_id}/expire-all"): Need.ADMIN,
    ("POST", "/api/v1/auth/logout"): Need.LOG_OUT,
}

_WORDS = {
    Need.ADMIN: "needs an admin token",
    Need.WRITE: "needs an application or admin token",
    Need.READ: "needs the ViewBase capability",
    Need.MANAGE_ENDPOINTS: "needs the ManageEndpoint capability",
    Need.VIEW_SECRET: "needs the ViewEndpointSecret capability",
    Need.ROTATE_SECRET: "needs the ManageEndpointSecret capability",
    Need.CREATE_ATTEMPTS: "needs the CreateAttempts capability",
}


def need_of(scope: Scope) -> Need:
    template = template_of(scope["path"])
    if template is None:
        return Need.ADMIN
    return NEEDS.get((scope["method"], template), Need.ADMIN)


def template_of(path: str) -> str | None:
    """The route template `path` matches (`/api/v1/app/{app_id}/msg`), read from
    the path itself rather than the framework's routing, so that the table and
    the requests it judges use the same key; literal segments win over ids."""
    return _match(_TRIE, path.strip("/").split("/"))


_Trie = dict[str, "_Trie | str"]
_TEMPLATE = "\0template"  # a key no path segment can be
_ANY = "{}"


def _trie(templates: set[str]) -> _Trie:
    root: _Trie = {}
    for template in templates:
        node = root
        for segment in template.strip("/").split("/"):
            key = _ANY if segment.startswith("{") else segment
            child = node.setdefault(key, {})
            assert isinstance(child, dict)
            node = child
        node[_TEMPLATE] = template
    return root


def _match(node: _Trie, segments: list[str]) -> str | None:
    if not segments:
        found = node.get(_TEMPLATE)
        return found if isinstance(found, str) else None
    head, rest = segments[0], segments[1:]
    for key in (head, _ANY):
        child = node.get(key)
        if isinstance(child, dict) and head and (found := _match(child, rest)) is not None:
            return found
    return None


_TRIE = _trie({template for _, template in NEEDS})


def refusal(grant: Grant, need: Need) -> str:
    if grant.kind == TokenKind.PORTAL and grant.read_only and need != Need.ADMIN:
        return "this route changes things, and the token is read-only"
    return f"this route {_WORDS.get(need, 'needs an admin token')}"
