"""A webhook receiver that verifies each POST with the `standardwebhooks` library.

.venv/bin/python examples/receiver.py [whsec_...] [--port 3000]

With no secret it makes a fresh one and prints it. Start it before sending, and give
that secret to examples/send.py, which creates the endpoint with it: the very first
delivery attempt then arrives and verifies.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import secrets
from http.server import BaseHTTPRequestHandler, HTTPServer

import standardwebhooks


def main() -> None:
    parser = argparse.ArgumentParser(description="Receive and verify webhooks.")
    parser.add_argument("secret", nargs="?", help="the endpoint's secret (default: a fresh one)")
    parser.add_argument("--port", type=int, default=3000, help="default: 3000")
    args = parser.parse_args()
    secret = args.secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    verifier = standardwebhooks.Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                payload = verifier.verify(body, dict(self.headers))
            except Exception as exc:  # the library raises several types on bad input
                print(f"REJECTED {self.headers.get('webhook-id')}: {exc}", flush=True)
                self.send_response(401)
            else:
                print(f"verified {self.headers['webhook-id']}: {payload}", flush=True)
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    try:
        server = HTTPServer(("127.0.0.1", args.port), Handler)
    except OSError as exc:
        parser.exit(
            1,
            f"cannot listen on port {args.port} ({exc}): choose another with --port N, and "
            "give send.py --url http://127.0.0.1:N/webhook\n",
        )
    print(f"endpoint secret: {secret}", flush=True)
    print(f"listening on http://127.0.0.1:{args.port}/webhook", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends it quietly
        server.serve_forever()


if __name__ == "__main__":
    main()
