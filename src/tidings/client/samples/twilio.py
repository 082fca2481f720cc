"""Twilio: a form-encoded body, a fresh `I-Twilio-Idempotency-Token`, and
`X-Twilio-Signature: base64(HMAC-SHA1(auth token, url + params))`, the params being
every form field sorted by name, each as name + value. The URL signed is the one the
request is sent to. Twilio names no event: the sample decides which webhook it is
(an incoming SMS, an incoming call, a message status callback)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl

from tidings.client.samples.base import FORM, Draft, Options, Provider, b64, mac

ACCOUNT = "AC3f9a7e52c1d04b8e96f2a0b7c5d3e1f4"
_PHONES = {
    "From": "+14155550100",
    "To": "+14155550199",
    "FromCity": "SAN FRANCISCO",
    "FromState": "CA",
    "FromZip": "94105",
    "FromCountry": "US",
    "ToCity": "OAKLAND",
    "ToState": "CA",
    "ToZip": "94612",
    "ToCountry": "US",
}


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _sms(now: int) -> dict[str, Any]:
    sid = _sid("SM")
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": "Hi! Is my order #1042 shipped yet? Merci 😊",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "MessagingServiceSid": "MG9752274e9e519418a7406176694466fa",
        "ApiVersion": "2010-04-01",
        **_PHONES,
    }


def _call(now: int) -> dict[str, Any]:
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": _sid("CA"),
        "CallStatus": "ringing",
        "Called": _PHONES["To"],
        "Caller": _PHONES["From"],
        "CallerCity": "SAN FRANCISCO",
        "CallerState": "CA",
        "CallerZip": "94105",
        "CallerCountry": "US",
        "CalledCity": "OAKLAND",
        "CalledState": "CA",
        "CalledZip": "94612",
        "CalledCountry": "US",
        "CallToken": "%7B%22parentCallInfoToken%22%3A%22eyJhbGciOiJFUzI1NiJ9%22%7D",
        "Direction": "inbound",
        "StirVerstat": "TN-Validation-Passed-A",
        **_PHONES,
    }


def _message_status(now: int) -> dict[str, Any]:
    sid = _sid("SM")
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "ErrorCode": "",
        "From": _PHONES["To"],
        "To": _PHONES["From"],
        "MessagingServiceSid": "MG9752274e9e519418a7406176694466fa",
        "RawDlrDoneDate": "2408011200",
    }


def headers(event: str, now: int, options: Options) -> dict[str, str]:
    return {
        "Content-Type": FORM,
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        "X-Home-Region": "us1",
    }


def signed_params(body: bytes) -> bytes:
    """The form fields sorted by name (a repeated name's values sorted too), each
    written as name + value with no delimiter, as Twilio's own library does."""
    pairs = sorted(parse_qsl(body.decode(), keep_blank_values=True))
    return "".join(name + value for name, value in pairs).encode()


def sign(draft: Draft, secret: str) -> dict[str, str]:
    digest = mac(secret.encode(), draft.url.encode() + signed_params(draft.body), "sha1")
    return {"X-Twilio-Signature": b64(digest)}


PROVIDER = Provider(
    events={"sms": _sms, "call": _call, "message-status": _message_status},
    default="sms",
    headers=headers,
    sign=sign,
    content_type=FORM,
)
