"""What error answers say: a 503 never carries the driver's words."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.requests import Request

from tidings.api import errors
from tidings.domain.errors import Forbidden, StorageUnavailable


def answer(exc: Exception) -> tuple[int, dict[str, str], dict[str, str]]:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response = asyncio.run(errors._tidings_error(request, exc))
    return response.status_code, json.loads(bytes(response.body)), dict(response.headers)


def test_an_unavailable_database_is_said_plainly_and_detailed_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver = 'database error: connection to server at "10.0.0.5", port 5432 failed'
    with caplog.at_level(logging.WARNING):
        status, body, headers = answer(StorageUnavailable(driver))
    assert status == 503 and headers["retry-after"] == "1"
    assert body == {
        "code": "storage_unavailable",
        "detail": "the database is unavailable; try again shortly",
    }
    assert "10.0.0.5" in caplog.text


def test_a_refused_route_is_403_with_its_reason() -> None:
    status, body, _ = answer(Forbidden("this route needs an admin token"))
    assert (status, body["code"], body["detail"]) == (
        403,
        "forbidden",
        "this route needs an admin token",
    )
