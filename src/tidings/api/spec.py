"""The OpenAPI document, as committed in docs/openapi.json.

Run `python -m tidings.api.spec > docs/openapi.json` (or `make openapi`) after an
API change; a test fails while the committed file differs from the code.
"""

from __future__ import annotations

import json
from typing import Any

from tidings.api.app import create_app
from tidings.config import Settings
from tidings.storage import open_store


def openapi_document() -> dict[str, Any]:
    # The store is never opened: building the routes needs only its type.
    app = create_app(open_store("sqlite:///unused.db"), Settings())
    return app.openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
