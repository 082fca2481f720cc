"""Sources whose scheme the operator configures rather than a provider: the generic
webhook (nothing to sign), a body HMAC in a header of their choosing, HTTP Basic, and
a static API key. Their samples are the generic events; the delivery id goes in the
configured `id_header`, else `Idempotency-Key`, which every such source reads."""

from __future__ import annotations

from tidings import __version__
from tidings.client.samples import events
from tidings.client.samples.base import Draft, Options, Provider, SampleError, b64, mac, new_uuid
from tidings.ingest.verify.api_key import DEFAULT_HEADER as API_KEY_HEADER
from tidings.ingest.verify.hmac_generic import ALGORITHMS, ENCODINGS

ID_HEADER = "Idempotency-Key"


def headers(event: str, now: int, options: Options) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": f"Tidings-Trigger/{__version__}",
        options.id_header or ID_HEADER: new_uuid(),
    }


def sign_generic(draft: Draft, secret: str) -> dict[str, str]:
    return {}


def sign_hmac(draft: Draft, secret: str) -> dict[str, str]:
    options = draft.options
    if not options.header:
        raise SampleError("hmac needs --header, the header the source reads (its 'header')")
    if options.algorithm not in ALGORITHMS:
        raise SampleError(f"--algorithm must be one of {', '.join(ALGORITHMS)}")
    if options.encoding not in ENCODINGS:
        raise SampleError(f"--encoding must be one of {', '.join(ENCODINGS)}")
    digest = mac(secret.encode(), draft.body, options.algorithm)
    encoded = digest.hex() if options.encoding == "hex" else b64(digest)
    return {options.header: options.prefix + encoded}


def sign_basic_auth(draft: Draft, secret: str) -> dict[str, str]:
    if ":" not in secret:
        raise SampleError("basic-auth: the secret must be 'user:password'")
    return {"Authorization": "Basic " + b64(secret.encode())}


def sign_api_key(draft: Draft, secret: str) -> dict[str, str]:
    header = draft.options.header or API_KEY_HEADER
    return {header: draft.options.prefix + secret}


GENERIC = Provider(events.EVENTS, events.DEFAULT, headers, sign_generic, needs_secret=False)
HMAC = Provider(
    events.EVENTS,
    events.DEFAULT,
    headers,
    sign_hmac,
    options=("header", "prefix", "algorithm", "encoding", "id_header"),
)
BASIC_AUTH = Provider(
    events.EVENTS, events.DEFAULT, headers, sign_basic_auth, options=("id_header",)
)
API_KEY = Provider(
    events.EVENTS, events.DEFAULT, headers, sign_api_key, options=("header", "prefix", "id_header")
)
