"""`tidings listen`'s environment variables and defaults, shared by its command line
(cli/listen_args.py) and the tool (listen.py) without importing aiohttp or rich."""

from __future__ import annotations

from tidings.config import Settings

SERVER_ENV = "TIDINGS_SERVER_URL"
TOKEN_ENV = "TIDINGS_TOKEN"
DEFAULT_SERVER = f"http://{Settings.host}:{Settings.port}"
DEFAULT_SOURCE = "listen"
DEFAULT_TYPE = "generic-webhook"
