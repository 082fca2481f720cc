"""Making the database match the config file: its sources and their endpoints.

Each declared source is created, or updated where the file changed it; the
ingest URL's token is kept unless the file pins one. Each action becomes an
endpoint of the source whose URL is `action://<source uid>/<action name>`, so
its runs are deliveries like any forward: queued, retried, recorded, replayable.
The program to run is looked up in the worker's own copy of the file by that
name; the database never holds a command, so nothing written through the API
can make Tidings run one. Endpoints of actions removed from the file are
disabled, not deleted, so their history and undelivered events stay.

Every process given the file applies it; applying is idempotent, and a
concurrent creation elsewhere is taken as done.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace

from tidings.domain import ids
from tidings.domain.clock import now_ms
from tidings.domain.errors import Conflict
from tidings.domain.internal import action_url, source_app_uid
from tidings.domain.models import Application, Endpoint, Source
from tidings.ingest.config_file import DeclaredSource, FileConfig
from tidings.ingest.sources import new_source
from tidings.signing.standard import generate_secret, normalize_secret
from tidings.storage.ports import Store

log = logging.getLogger(__name__)

# Endpoints the file declares carry this uid prefix; the rest are the API's.
DECLARED_UID_PREFIX = "config."
MANAGED_BY = {"managedBy": "config-file"}
REMOVED = "removed from the config file"
PAGE = 250


def is_declared(metadata: dict[str, str]) -> bool:
    """Whether a source or endpoint is the config file's (read-only to the API)."""
    return metadata.get("managedBy") == MANAGED_BY["managedBy"]


async def apply(store: Store, config: FileConfig) -> None:
    for declared in config.sources:
        source = await _source(store, declared)
        app = await store.get_application(source_app_uid(source.id))
        if app is None:  # deleted through the API this instant; the next change recreates it
            continue
        await _endpoints(store, app, declared)


async def _source(store: Store, declared: DeclaredSource) -> Source:
    found = await store.get_source(declared.uid)
    if found is None:
        source, app = new_source(declared.name, declared.type, declared.config)
        source.uid, source.metadata = declared.uid, dict(MANAGED_BY)
        source.token = declared.token or source.token
        try:
            created = await store.create_source(source, app)
            log.info("config: created source %s (%s)", declared.uid, declared.type)
            return created
        except Conflict:  # another process created it just now
            found = await store.get_source(declared.uid)
            if found is None:
                raise
    wanted = replace(
        found,
        name=declared.name,
        type=declared.type,
        config=declared.config,
        token=declared.token or found.token,
        uid=declared.uid,
        metadata=dict(MANAGED_BY),
    )
    if wanted != found:
        wanted.updated_at = now_ms()
        found = await store.update_source(wanted)
        log.info("config: updated source %s", declared.uid)
    return found


async def _endpoints(store: Store, app: Application, declared: DeclaredSource) -> None:
    existing = {
        e.uid: e
        for e in await _all_endpoints(store, app)
        if e.uid and e.uid.startswith(DECLARED_UID_PREFIX)
    }
    wanted: dict[str, tuple[str, str, str | None]] = {}
    for action in declared.actions:
        wanted[DECLARED_UID_PREFIX + action.name] = (
            action_url(declared.uid, action.name),
            action.describe,
            None,
        )
    for forward in declared.forwards:
        wanted[DECLARED_UID_PREFIX + forward.name] = (forward.url, "forward", forward.secret)
    for uid, (url, description, secret) in wanted.items():
        await _endpoint(store, app, existing.get(uid), uid, url, description, secret)
    for uid, endpoint in existing.items():
        if uid not in wanted and not endpoint.disabled:
            endpoint.disabled, endpoint.updated_at = True, now_ms()
            endpoint.description = REMOVED
            await store.update_endpoint(endpoint)
            log.info("config: disabled endpoint %s of source %s", uid, declared.uid)


async def _endpoint(
    store: Store,
    app: Application,
    found: Endpoint | None,
    uid: str,
    url: str,
    description: str,
    secret: str | None,
) -> None:
    secret = normalize_secret(secret) if secret else None
    if found is None:
        now = now_ms()
        endpoint = Endpoint(
            id=ids.new_id(ids.ENDPOINT),
            app_key=app.key,
            url=url,
            secret=secret or generate_secret(),
            description=description,
            uid=uid,
            metadata=dict(MANAGED_BY),
            created_at=now,
            updated_at=now,
        )
        with contextlib.suppress(Conflict):  # created by another process just now
            await store.create_endpoint(endpoint)
        return
    wanted = replace(
        found,
        url=url,
        description=description,
        secret=secret or found.secret,
        uid=uid,
        metadata=dict(MANAGED_BY),
    )
    if found.description == REMOVED:
        wanted.disabled = False  # declared again
    if wanted != found:
        wanted.updated_at = now_ms()
        await store.update_endpoint(wanted)


async def _all_endpoints(store: Store, app: Application) -> list[Endpoint]:
    found: list[Endpoint] = []
    iterator: str | None = None
    while True:
        page = await store.list_endpoints(app, PAGE, iterator, True)
        found += page.items
        if page.done or not page.iterator:
            return found
        iterator = page.iterator
