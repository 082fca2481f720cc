"""Connecting to PostgreSQL, and the one place asyncpg's exceptions are translated."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from asyncpg.exceptions import _base as asyncpg_base  # type: ignore[import-untyped]

from tidings.domain.errors import Conflict, InvalidInput, StorageUnavailable, TidingsError

log = logging.getLogger(__name__)

APPLICATION_NAME = "tidings"
# Every statement here is short. PostgreSQL compiles a statement with LLVM once its
# estimated cost passes jit_above_cost, which the claim's does once the queue holds
# a few hundred thousand rows (the planner cannot see how few rows the CTEs keep):
# then each claim spent about 64 ms compiling and 7 ms running, and a million-row
# backlog drained at an eighth of the speed of a small one.
SERVER_SETTINGS = {"jit": "off"}
CONNECT_TIMEOUT_SECONDS = 10.0
# Bounds every statement, so a stalled server turns into StorageUnavailable
# (and a 503) instead of requests that hang.
COMMAND_TIMEOUT_SECONDS = 60.0

# Failures that mean "the server or the network is gone" (or the connection is
# in a state it cannot leave), as opposed to a statement the server refused.
# InternalClientError is what asyncpg raises when a statement is sent on a
# connection the server already terminated while it sat idle in the pool.
_CONNECTION_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg_base.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)
# Server-side (class 22) and client-side encoding failures: the value came from
# the request, e.g. a NUL character, which PostgreSQL text and jsonb cannot hold.
_BAD_VALUES: tuple[type[BaseException], ...] = (asyncpg.DataError, asyncpg_base.DataError)
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *_CONNECTION_FAILURES)


async def connect(url: str, application_name: str = APPLICATION_NAME) -> Any:
    """One connection outside the pool (migrations, LISTEN)."""
    return await asyncpg.connect(
        url,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=COMMAND_TIMEOUT_SECONDS,
        server_settings={"application_name": application_name, **SERVER_SETTINGS},
    )


async def create_pool(url: str, min_size: int, max_size: int) -> Any:
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=COMMAND_TIMEOUT_SECONDS,
        server_settings={"application_name": APPLICATION_NAME, **SERVER_SETTINGS},
    )


def is_connection_failure(exc: BaseException) -> bool:
    return isinstance(exc, _CONNECTION_FAILURES) and not isinstance(exc, _BAD_VALUES)


@contextlib.asynccontextmanager
async def translated(pool: Any, conflict: str | None = None) -> AsyncIterator[None]:
    """Run a unit of work, turning driver exceptions into Tidings errors.

    `conflict` names what a unique violation means ("an application with uid 'x'").
    After a connection failure every pooled connection is expired, so after a
    server restart one call fails and the next one connects afresh.
    """
    try:
        yield
    except TidingsError:
        raise
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"{conflict or 'the object'} already exists") from exc
    except _BAD_VALUES as exc:
        raise InvalidInput(f"a value cannot be stored: {exc}") from exc
    except _DRIVER_ERRORS as exc:
        raise await _unavailable(pool, exc) from exc


async def _unavailable(pool: Any, exc: BaseException) -> StorageUnavailable:
    if is_connection_failure(exc):
        log.warning("PostgreSQL connection failed: %r", exc)
        if pool is not None:
            await pool.expire_connections()
        return StorageUnavailable(f"database unavailable: {exc or type(exc).__name__}")
    # Anything else the server refused is a bug or an overload (deadlock,
    # serialization failure, disk full): log it loudly, answer "try again".
    log.error("PostgreSQL statement failed: %r", exc)
    return StorageUnavailable(f"database error: {exc}")
