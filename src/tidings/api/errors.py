"""Error responses in Svix's shapes.

401/403/404/409/413 answer `{"code": ..., "detail": ...}`; 422 answers the SDK's
validation shape `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`; an
unavailable database answers 503 so clients retry. Nothing answers a bare 500
with a stack trace.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tidings.api.services import services_of
from tidings.domain import errors

log = logging.getLogger(__name__)

_STATUS: dict[type[errors.TidingsError], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.PayloadTooLarge: 413,
    errors.StorageUnavailable: 503,
    errors.DestinationBlocked: 422,
}


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"code": code, "detail": detail}


def validation_body(detail: str, field: str | None, location: str = "body") -> dict[str, object]:
    loc = [location, field] if field else [location]
    return {"detail": [{"loc": loc, "msg": detail, "type": "value_error"}]}


async def _tidings_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.TidingsError)
    if isinstance(exc, errors.InvalidInput):
        return JSONResponse(validation_body(str(exc), exc.field, exc.location), status_code=422)
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    if status == 503:
        # The driver's words (hosts, paths, SQL) are for the operator's log only.
        log.warning("storage unavailable: %s", exc)
        body = error_body(exc.code, "the database is unavailable; try again shortly")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
    return JSONResponse(error_body(exc.code, str(exc)), status_code=status)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type")}
        for item in exc.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(details)}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
        # FastAPI's words when reading the JSON raised something else than a
        # decoding error: a body nested deeper than the parser goes.
        deep = isinstance(exc.__cause__, RecursionError)
        why = "the JSON body nests too deeply to be read" if deep else "the body is not JSON"
        return JSONResponse(validation_body(why, None), status_code=422)
    code = {401: "authentication_failed", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error"
    )
    headers = exc.headers
    if exc.status_code == 405 and (allowed := _allowed(request)) is not None:
        headers = {**(headers or {}), "Allow": allowed}
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
    )


_UNREADABLE_BODY = "There was an error parsing the body"


def _allowed(request: Request) -> str | None:
    """Every method the documented routes of this path take (Starlette names only
    the first route it matched), or None for a path the spec does not list."""
    app = request.scope.get("app")
    if app is None:  # a lean path's answer (inbound.py): it names its own methods
        return None
    services = services_of(app)
    table = services.allowed_methods
    if table is None:
        table = []
        for template, operations in app.openapi()["paths"].items():
            pattern = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(template))
            table.append((re.compile(pattern), ", ".join(sorted(m.upper() for m in operations))))
        services.allowed_methods = table
    path = request.url.path
    return next((methods for pattern, methods in table if pattern.fullmatch(path)), None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal", "internal error"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.TidingsError, _tidings_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
