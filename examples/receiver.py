"""A webhook receiver that verifies each POST with the `standardwebhooks` library.

.venv/bin/python examples/receiver.py whsec_... [port]
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import standardwebhooks


def main() -> None:
    secret = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
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

    print(f"listening on http://127.0.0.1:{port}/webhook", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
