"""The API's own documentation: `/openapi.json`, and `/docs` (Swagger UI) and
`/redoc` drawn from it, with their scripts served from here rather than a CDN.

The spec lists every route, so it is for token holders unless the operator makes
it public (`TIDINGS_PUBLIC_DOCS`).
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from tidings.api.services import services_of
from tidings.domain.errors import NotFound

ASSETS = "/docs/assets"
_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}


async def _docs_reader(request: Request) -> None:
    if services_of(request.app).settings.public_docs:
        return
    authenticator = services_of(request.app).authenticator
    await authenticator.grant(request.headers.get("authorization"))


router = APIRouter(include_in_schema=False, dependencies=[Depends(_docs_reader)])


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


# The pages reach nothing but this server (ReDoc would fetch its logo from its
# vendor's CDN): the browser refuses anything else.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def _confined(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _CSP
    return page


@router.get("/docs")
async def swagger(request: Request) -> HTMLResponse:
    return _confined(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Tidings API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return _confined(
        get_redoc_html(
            openapi_url="/openapi.json",
            title="Tidings API",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
    )


# The scripts and styles themselves hold nothing of this deployment: served to anyone.
assets = APIRouter(include_in_schema=False)


@assets.get(ASSETS + "/{name}")
async def asset(name: str) -> Response:
    media_type = _TYPES.get(name)
    if media_type is None:
        raise NotFound(f"no asset {name!r}")
    content = (resources.files("fastapi_offline") / "static" / name).read_bytes()
    return Response(
        content, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )
