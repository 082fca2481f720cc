"""Zoom: the event name in the payload's `event`, and `x-zm-signature: v0=<hex
HMAC-SHA256 of "v0:{ts}:{body}">` with `x-zm-request-timestamp`, keyed with the
app's secret token. `endpoint.url_validation` is Zoom's challenge: the answer
echoes `plainToken` with its HMAC."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from tidings.client.samples.base import Draft, Options, Payload, Provider, iso, mac

ACCOUNT = "AAAAAABBBB_CCCCdddd1234"


def _event(name: str, obj: Callable[[int], dict[str, Any]]) -> Payload:
    def build(now: int) -> dict[str, Any]:
        return {
            "event": name,
            "event_ts": now * 1000 + secrets.randbelow(1000),
            "payload": {"account_id": ACCOUNT, "object": obj(now)},
        }

    return build


def _meeting(now: int) -> dict[str, Any]:
    return {
        "id": "85746065432",
        "uuid": "4444AAAiAAAAAiAiAiiAii==",
        "host_id": "x1yCzABCDEfg23HiJKl4mN",
        "topic": "Weekly planning",
        "type": 8,
        "start_time": iso(now),
        "timezone": "America/Los_Angeles",
        "duration": 60,
    }


def _ended(now: int) -> dict[str, Any]:
    return {**_meeting(now - 3600), "end_time": iso(now)}


def _participant(now: int) -> dict[str, Any]:
    return {
        **_meeting(now - 60),
        "participant": {
            "user_id": "16778240",
            "user_name": "Jill Chill",
            "id": "iFxeBPYun6SAiWUzBcEkX",
            "participant_uuid": "55555AAAiAAAAAiAiAiiAii",
            "email": "jchill@example.com",
            "join_time": iso(now),
        },
    }


def _url_validation(now: int) -> dict[str, Any]:
    return {
        "event": "endpoint.url_validation",
        "event_ts": now * 1000,
        "payload": {"plainToken": secrets.token_urlsafe(16)},
    }


def headers(event: str, now: int, options: Options) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Zoom Marketplace/1.0a",
        "x-zm-trackingid": "v=2.0;clid=aw1;rid=" + secrets.token_hex(8),
    }


def sign(draft: Draft, secret: str) -> dict[str, str]:
    timestamp = str(draft.now)
    signed = b"v0:" + timestamp.encode() + b":" + draft.body
    return {
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": "v0=" + mac(secret.encode(), signed).hex(),
    }


PROVIDER = Provider(
    events={
        "meeting.started": _event("meeting.started", _meeting),
        "meeting.ended": _event("meeting.ended", _ended),
        "meeting.participant_joined": _event("meeting.participant_joined", _participant),
        "endpoint.url_validation": _url_validation,
    },
    default="meeting.started",
    headers=headers,
    sign=sign,
)
