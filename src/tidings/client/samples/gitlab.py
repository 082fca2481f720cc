"""GitLab: the event in `X-Gitlab-Event` ("Push Hook", ...) and the payload's
`object_kind`, fresh `Idempotency-Key` and `X-Gitlab-Event-UUID` values, and the
shared secret token echoed in `X-Gitlab-Token` (GitLab signs nothing)."""

from __future__ import annotations

from typing import Any

from tidings.client.samples.base import Draft, Options, Provider, new_uuid

INSTANCE = "https://gitlab.example.com"
_HEADER_NAMES = {
    "push": "Push Hook",
    "merge_request": "Merge Request Hook",
    "pipeline": "Pipeline Hook",
}
_USER = {"id": 4, "name": "Jane Doe", "username": "jdoe", "email": "jdoe@example.com"}
_PROJECT = {
    "id": 15,
    "name": "Diaspora",
    "path_with_namespace": "mike/diaspora",
    "web_url": f"{INSTANCE}/mike/diaspora",
    "default_branch": "main",
    "visibility_level": 0,
}


def _push(now: int) -> dict[str, Any]:
    commit = {
        "id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "message": "Update the Catalan translation to e38cb41.\n",
        "title": "Update the Catalan translation to e38cb41.",
        "timestamp": f"{now}",
        "url": f"{INSTANCE}/mike/diaspora/-/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "author": {"name": "Jane Doe", "email": "jdoe@example.com"},
        "added": ["CHANGELOG"],
        "modified": ["app/controller/application.rb"],
        "removed": [],
    }
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
        "after": commit["id"],
        "ref": "refs/heads/main",
        "checkout_sha": commit["id"],
        "user_id": 4,
        "user_name": "Jane Doe",
        "user_username": "jdoe",
        "project_id": 15,
        "project": _PROJECT,
        "commits": [commit],
        "total_commits_count": 1,
    }


def _merge_request(now: int) -> dict[str, Any]:
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": _USER,
        "project": _PROJECT,
        "object_attributes": {
            "id": 99,
            "iid": 1,
            "title": "MS-Viewport",
            "description": "Adds a viewport meta tag",
            "state": "opened",
            "action": "open",
            "source_branch": "ms-viewport",
            "target_branch": "main",
            "merge_status": "unchecked",
            "url": f"{INSTANCE}/mike/diaspora/-/merge_requests/1",
            "created_at": f"{now}",
            "last_commit": {"id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"},
        },
        "labels": [{"id": 206, "title": "API", "color": "#ffffff"}],
    }


def _pipeline(now: int) -> dict[str, Any]:
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": 31,
            "iid": 3,
            "ref": "main",
            "tag": False,
            "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "source": "push",
            "status": "success",
            "stages": ["build", "test", "deploy"],
            "duration": 63,
            "url": f"{INSTANCE}/mike/diaspora/-/pipelines/31",
        },
        "user": _USER,
        "project": _PROJECT,
        "builds": [
            {"id": 380, "stage": "deploy", "name": "production", "status": "success"},
            {"id": 377, "stage": "test", "name": "test-image", "status": "success"},
        ],
    }


def headers(event: str, now: int, options: Options) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.5.0",
        "X-Gitlab-Event": _HEADER_NAMES[event],
        "X-Gitlab-Instance": INSTANCE,
        "X-Gitlab-Webhook-UUID": "3ba9a2b4-65ef-4a3c-9f2d-0b3c1e9f2a61",
        "X-Gitlab-Event-UUID": new_uuid(),
        "Idempotency-Key": new_uuid(),
    }


def sign(draft: Draft, secret: str) -> dict[str, str]:
    return {"X-Gitlab-Token": secret}


PROVIDER = Provider(
    events={"push": _push, "merge_request": _merge_request, "pipeline": _pipeline},
    default="push",
    headers=headers,
    sign=sign,
)
