"""GitHub: the event name in `X-GitHub-Event`, a fresh uuid in `X-GitHub-Delivery`,
and `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` (plus the legacy
SHA-1 `X-Hub-Signature` GitHub still sends beside it)."""

from __future__ import annotations

from typing import Any

from tidings.client.samples.base import Draft, Options, Provider, iso, mac, new_uuid

_OWNER = {
    "login": "octo-org",
    "id": 6811672,
    "type": "Organization",
    "html_url": "https://github.com/octo-org",
}
_SENDER = {
    "login": "mona",
    "id": 21031067,
    "type": "User",
    "site_admin": False,
    "html_url": "https://github.com/mona",
}
_REPO = {
    "id": 186853002,
    "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
    "name": "hello-world",
    "full_name": "octo-org/hello-world",
    "private": False,
    "owner": _OWNER,
    "html_url": "https://github.com/octo-org/hello-world",
    "default_branch": "main",
}


def _push(now: int) -> dict[str, Any]:
    commit = {
        "id": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "tree_id": "1b4e4c5b2a8f1a3c9d5e7f0a2b4c6d8e0f1a3b5c",
        "message": "Fix the retry schedule off-by-one",
        "timestamp": iso(now),
        "url": "https://github.com/octo-org/hello-world/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "author": {"name": "Mona Lisa", "email": "mona@github.com", "username": "mona"},
        "added": [],
        "removed": [],
        "modified": ["src/retry.py"],
    }
    return {
        "ref": "refs/heads/main",
        "before": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "after": commit["id"],
        "created": False,
        "deleted": False,
        "forced": False,
        "compare": "https://github.com/octo-org/hello-world/compare/0d1a26e67d8f...6113728f27ae",
        "commits": [commit],
        "head_commit": commit,
        "repository": _REPO,
        "pusher": {"name": "mona", "email": "mona@github.com"},
        "sender": _SENDER,
    }


def _pull_request(now: int) -> dict[str, Any]:
    return {
        "action": "opened",
        "number": 42,
        "pull_request": {
            "id": 1942311187,
            "number": 42,
            "state": "open",
            "title": "Add a trigger command",
            "body": "Sends a signed sample event of each provider.",
            "user": _SENDER,
            "created_at": iso(now),
            "html_url": "https://github.com/octo-org/hello-world/pull/42",
            "head": {"ref": "trigger", "sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"},
            "base": {"ref": "main", "sha": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"},
            "draft": False,
            "merged": False,
            "commits": 3,
            "additions": 214,
            "deletions": 12,
            "changed_files": 7,
        },
        "repository": _REPO,
        "sender": _SENDER,
    }


def _ping(now: int) -> dict[str, Any]:
    return {
        "zen": "Design for failure.",
        "hook_id": 479413457,
        "hook": {
            "type": "Repository",
            "id": 479413457,
            "name": "web",
            "active": True,
            "events": ["push", "pull_request", "release"],
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": "https://hooks.example.com",
            },
            "created_at": iso(now),
            "updated_at": iso(now),
        },
        "repository": _REPO,
        "sender": _SENDER,
    }


def _release(now: int) -> dict[str, Any]:
    return {
        "action": "published",
        "release": {
            "id": 153762883,
            "tag_name": "v1.4.0",
            "target_commitish": "main",
            "name": "v1.4.0",
            "body": "## What's changed\n* Add a trigger command by @mona in #42",
            "draft": False,
            "prerelease": False,
            "created_at": iso(now),
            "published_at": iso(now),
            "author": _SENDER,
            "html_url": "https://github.com/octo-org/hello-world/releases/tag/v1.4.0",
            "tarball_url": "https://api.github.com/repos/octo-org/hello-world/tarball/v1.4.0",
        },
        "repository": _REPO,
        "sender": _SENDER,
    }


def headers(event: str, now: int, options: Options) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/a7d2f1c",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": new_uuid(),
        "X-GitHub-Hook-ID": "479413457",
        "X-GitHub-Hook-Installation-Target-ID": "186853002",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
    }


def sign(draft: Draft, secret: str) -> dict[str, str]:
    key = secret.encode()
    return {
        "X-Hub-Signature-256": "sha256=" + mac(key, draft.body).hex(),
        "X-Hub-Signature": "sha1=" + mac(key, draft.body, "sha1").hex(),
    }


PROVIDER = Provider(
    events={"push": _push, "pull_request": _pull_request, "ping": _ping, "release": _release},
    default="push",
    headers=headers,
    sign=sign,
)
