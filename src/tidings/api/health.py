"""/api/v1/health: the one route that needs no token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tidings.api.deps import store_of

router = APIRouter(prefix="/api/v1/health", tags=["health"])


@router.get("", status_code=204)
async def health(request: Request) -> Response:
    """204 when the database answers; 503 when it does not (no token needed)."""
    await store_of(request).ping()
    return Response(status_code=204)
