"""Create an application, an endpoint and a message with the official Svix SDK.

.venv/bin/python examples/send.py <admin token> [<endpoint secret>]
    [--server http://127.0.0.1:8040] [--url http://127.0.0.1:3000/webhook]

Run it again as often as you like: the application (uid `acme`) and the endpoint
(uid `quickstart`) are reused, and the endpoint takes the url and secret given.
"""

from __future__ import annotations

import argparse

import httpx
from svix.api import (
    ApplicationIn,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointSecretRotateIn,
    MessageIn,
    Svix,
    SvixOptions,
)
from svix.exceptions import HttpError

ENDPOINT_UID = "quickstart"


def _endpoint(svix: Svix, app_id: str, url: str, secret: str | None) -> EndpointOut:
    """The quickstart endpoint, created on the first run and brought up to date after."""
    try:
        endpoint = svix.endpoint.get(app_id, ENDPOINT_UID)
    except HttpError as exc:
        if exc.status_code != 404:
            raise
        wanted = EndpointIn(url=url, uid=ENDPOINT_UID, event_types=["invoice.paid"], secret=secret)
        return svix.endpoint.create(app_id, wanted)
    if endpoint.url != url or endpoint.disabled:
        endpoint = svix.endpoint.patch(app_id, endpoint.id, EndpointPatch(url=url, disabled=False))
    if secret is not None and svix.endpoint.get_secret(app_id, endpoint.id).key != secret:
        # A receiver restarted with a new secret: switch to it at once (no grace period).
        rotation = EndpointSecretRotateIn(key=secret, grace_period_seconds=0)
        svix.endpoint.rotate_secret(app_id, endpoint.id, rotation)
    return endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description="Send a webhook through Tidings.")
    parser.add_argument("token", help="an admin API token")
    parser.add_argument("secret", nargs="?", help="the endpoint's whsec_... secret (default: kept)")
    parser.add_argument("--server", default="http://127.0.0.1:8040", help="Tidings' URL")
    parser.add_argument("--url", default="http://127.0.0.1:3000/webhook", help="the receiver's")
    args = parser.parse_args()
    secret = args.secret
    if secret is not None and not secret.startswith("whsec_"):
        secret = "whsec_" + secret  # how Tidings stores it

    svix = Svix(args.token, SvixOptions(server_url=args.server))
    try:
        app = svix.application.get_or_create(ApplicationIn(name="Acme Inc.", uid="acme"))
        endpoint = _endpoint(svix, app.id, args.url, secret)
        if secret is None:
            print("endpoint secret:", svix.endpoint.get_secret(app.id, endpoint.id).key)
        message = svix.message.create(
            app.id,
            MessageIn(event_type="invoice.paid", payload={"invoice": "in_42", "amount": 1999}),
        )
    except httpx.TransportError as exc:
        parser.exit(1, f"no answer from Tidings at {args.server} ({exc}); see --server\n")
    except HttpError as exc:
        parser.exit(1, f"Tidings answered {exc.status_code}: {exc.detail}\n")
    print(f"sent {message.id} to {endpoint.url}")


if __name__ == "__main__":
    main()
