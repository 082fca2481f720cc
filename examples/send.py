"""Create an application, an endpoint and a message with the official Svix SDK.

.venv/bin/python examples/send.py <admin token> [receiver url]
"""

from __future__ import annotations

import sys

from svix.api import ApplicationIn, EndpointIn, EndpointOut, MessageIn, Svix, SvixOptions
from svix.exceptions import HttpError


def _endpoint(svix: Svix, app_id: str, url: str) -> EndpointOut:
    """The quickstart endpoint, created on the first run and reused after."""
    try:
        return svix.endpoint.get(app_id, "quickstart")
    except HttpError:
        wanted = EndpointIn(url=url, uid="quickstart", event_types=["invoice.paid"])
        return svix.endpoint.create(app_id, wanted)


def main() -> None:
    token = sys.argv[1]
    url = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:3000/webhook"
    svix = Svix(token, SvixOptions(server_url="http://127.0.0.1:8040"))
    app = svix.application.get_or_create(ApplicationIn(name="Acme Inc.", uid="acme"))
    endpoint = _endpoint(svix, app.id, url)
    print("endpoint secret:", svix.endpoint.get_secret(app.id, endpoint.id).key)
    message = svix.message.create(
        app.id, MessageIn(event_type="invoice.paid", payload={"invoice": "in_42", "amount": 1999})
    )
    print("sent", message.id)


if __name__ == "__main__":
    main()
