"""What the generated OpenAPI document leaves out, added to every operation: the
bearer-token scheme, and the error answers each kind of route can give (FastAPI
documents only 2xx and 422), so that a client or a fuzzer can rely on the spec.
"""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
    "required": ["code", "detail"],
}
_REASONS = {
    "401": "The token is missing, unknown, expired or revoked.",
    "403": "The token's kind or capabilities do not cover this route.",
    "404": "No such object, or one the token may not see.",
    "409": "The change conflicts with the current state (a uid taken, a key in use, "
    "an object the config file declares).",
    "413": "The body is over the size limit.",
    "503": "The database is unavailable; try again (see Retry-After).",
}
# Routes that need no token.
PUBLIC = {("get", "/api/v1/health")}
# `POST /api/v1/app?get_if_exists=true` answers 200 with the application it found.
FOUND_BY_POST = {"/api/v1/app"}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = _ERROR
    components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    document["security"] = [{"bearerAuth": []}]
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _complete_operation(path, method, operation)
    return document


def _complete_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    codes = ["503"]
    if (method, path) in PUBLIC:
        operation["security"] = []
    else:
        codes += ["401", "403"]
    if "{" in path or path.endswith("/msg"):
        codes.append("404")  # the path names objects (or an application to create in)
    if method in ("post", "put", "patch", "delete"):
        codes.append("409")
    if "requestBody" in operation:
        codes.append("413")
    for code in codes:
        responses.setdefault(
            code,
            {
                "description": _REASONS[code],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )
    if method == "put" and "200" in responses:  # every PUT creates what is missing
        responses.setdefault("201", {**responses["200"], "description": "Created"})
    if method == "post" and path in FOUND_BY_POST and "201" in responses:
        responses.setdefault("200", {**responses["201"], "description": "Found (get_if_exists)"})
