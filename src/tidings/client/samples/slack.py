"""Slack's Events API: the kind in the payload's `type` (`event_callback` with the
event's own `type` inside, or `url_verification`), a fresh `event_id` (Slack's dedup
key), and `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` with
`X-Slack-Request-Timestamp`, keyed with the app's signing secret."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from tidings.client.samples.base import Draft, Options, Payload, Provider, mac

TEAM = "T0123ABCDEF"
API_APP = "A0456GHIJKL"


def _event_id() -> str:
    return "Ev0" + secrets.token_hex(5).upper()


def _callback(event: Callable[[int], dict[str, Any]]) -> Payload:
    def build(now: int) -> dict[str, Any]:
        return {
            "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
            "team_id": TEAM,
            "context_team_id": TEAM,
            "api_app_id": API_APP,
            "event": event(now),
            "type": "event_callback",
            "event_id": _event_id(),
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM,
                    "user_id": "U0BOT00001",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIiwidGlkIjoiVDAxMjMifQ",
        }

    return build


def _app_mention(now: int) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": "U061F7AUR",
        "text": "<@U0BOT00001> what's the status of the deploy?",
        "ts": f"{now}.000200",
        "channel": "C0LAN2Q65",
        "event_ts": f"{now}.000200",
        "team": TEAM,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "f6Zx",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "user", "user_id": "U0BOT00001"},
                            {"type": "text", "text": " what's the status of the deploy?"},
                        ],
                    }
                ],
            }
        ],
    }


def _message(now: int) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": "C0LAN2Q65",
        "channel_type": "channel",
        "user": "U061F7AUR",
        "text": "Deploy finished, all green :tada:",
        "ts": f"{now}.000300",
        "event_ts": f"{now}.000300",
        "team": TEAM,
        "client_msg_id": "4d1f6c2a-8b3e-4f7a-9c0d-2e5b8a1f3c6d",
    }


def _url_verification(now: int) -> dict[str, Any]:
    return {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": secrets.token_urlsafe(36),
        "type": "url_verification",
    }


def headers(event: str, now: int, options: Options) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def sign(draft: Draft, secret: str) -> dict[str, str]:
    timestamp = str(draft.now)
    signed = b"v0:" + timestamp.encode() + b":" + draft.body
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + mac(secret.encode(), signed).hex(),
    }


PROVIDER = Provider(
    events={
        "app_mention": _callback(_app_mention),
        "message": _callback(_message),
        "url_verification": _url_verification,
    },
    default="app_mention",
    headers=headers,
    sign=sign,
)
