"""Error responses in Svix's shapes.

401/403/404/409/413 answer `{"code": ..., "detail": ...}`; 422 answers the SDK's
validation shape `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`; an
unavailable database answers 503 so clients retry. Nothing answers a bare 500
with a stack trace.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def validation_body(detail: str, field: str | None) -> dict[str, object]:
    return {"detail": [{"loc": ["body", field or "body"], "msg": detail, "type": "value_error"}]}


async def _tidings_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.TidingsError)
    if isinstance(exc, errors.InvalidInput):
        return JSONResponse(validation_body(str(exc), exc.field), status_code=422)
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
    code = {401: "authentication_failed", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error"
    )
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal", "internal error"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.TidingsError, _tidings_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
