"""Regression tests for holes an attacker's probe found."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.harness import ServerProcess, tidings_run
from tidings.ingest import config_file
from tidings.ingest.config_file import ConfigError


def _admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})


def test_the_header_an_api_key_source_reads_is_never_kept(server: ServerProcess) -> None:
    with _admin(server) as http:
        config = {"secrets": ["key-0451"], "header": "X-Custom-Key"}
        source = http.post(
            "/ingest/api/v1/source", json={"name": "k", "type": "api-key", "config": config}
        ).json()
        answer = httpx.post(
            source["ingestUrl"],
            content=b'{"a": 1}',
            headers={"X-Custom-Key": "key-0451", "X-Other": "kept"},
        )
        assert answer.status_code == 200, answer.text
        events = http.get(f"/ingest/api/v1/source/{source['id']}/event").json()["data"]
    headers = events[0]["headers"]
    assert headers.get("x-other") == "kept"
    assert "x-custom-key" not in headers
    stored = server.query("SELECT headers FROM inbound_event")
    assert stored and "key-0451" not in repr(stored)


def test_tidings_own_applications_cannot_be_replaced(server: ServerProcess) -> None:
    with _admin(server) as http:
        http.post(
            "/ingest/api/v1/source",
            json={"name": "s", "type": "github", "config": {"secret": "x" * 24}},
        )
        ((internal,),) = server.query(
            "SELECT id FROM application WHERE uid LIKE '\\_\\_tidings\\_%' ESCAPE '\\'"
        )
        replaced = http.put(f"/api/v1/app/{internal}", json={"name": "mine now", "uid": "mine"})
        patched = http.patch(f"/api/v1/app/{internal}", json={"name": "mine now"})
        reserved = http.post(
            "/api/v1/app/new-app/msg",
            json={
                "eventType": "a",
                "payload": {},
                "application": {"name": "x", "uid": "__tidings_x"},
            },
        )
        reserved_path = http.post(
            "/api/v1/app/__tidings_y/msg",
            json={"eventType": "a", "payload": {}, "application": {"name": "y"}},
        )
    assert (replaced.status_code, patched.status_code) == (404, 404)
    assert reserved.status_code == 422 and "reserved" in reserved.text
    assert reserved_path.status_code == 422 and "reserved" in reserved_path.text
    names = [name for (name,) in server.query("SELECT name FROM application")]
    assert "mine now" not in names and len(names) == 1


def test_dev_mode_refuses_an_address_other_machines_reach(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'd.db'}"
    done = tidings_run("serve", "--dev", "--host", "0.0.0.0", "--database-url", database)
    assert done.returncode != 0
    assert "loopback host" in done.stderr


CONFIG = """
[[source]]
uid = "deploys"
type = "generic-webhook"
"""


def test_a_config_file_others_can_write_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir(mode=0o755)
    config = folder / "tidings.toml"
    config.write_text(CONFIG)
    config.chmod(0o664)  # group-writable
    with pytest.raises(ConfigError, match="writable by group or others"):
        config_file.load(config)
    config.chmod(0o644)
    folder.chmod(0o777)  # or a directory anyone can write to
    with pytest.raises(ConfigError, match="writable by group or others"):
        config_file.load(config)
    assert [s.uid for s in config_file.load(config, allow_shared_write=True).sources] == ["deploys"]
    folder.chmod(0o755)
    assert [s.uid for s in config_file.load(config).sources] == ["deploys"]


def test_the_api_docs_need_a_token_and_load_nothing_from_elsewhere(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(server.url + path).status_code == 401, path
    with _admin(server) as http:
        assert http.get("/openapi.json").json()["info"]["title"] == "Tidings"
        answers = [http.get(path) for path in ("/docs", "/redoc")]
        pages = [answer.text for answer in answers]
    # And the browser is told to fetch nothing from anywhere else (ReDoc's logo).
    assert all("default-src 'self'" in a.headers["content-security-policy"] for a in answers)
    for page in pages:
        sources = re.findall(r'(?:src|href)=["\']([^"\']+)', page)
        sources += re.findall(r"url: ?['\"]([^'\"]+)", page)
        assert sources and all(source.startswith("/") for source in sources), sources
        for source in sources:
            assert httpx.get(server.url + source, headers=_auth(server)).status_code == 200
    server.stop()
    (tmp_path / "public").mkdir()
    public = ServerProcess(tmp_path / "public", public_docs="1").start()
    assert httpx.get(public.url + "/openapi.json").status_code == 200
    public.stop()


def _auth(server: ServerProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}
