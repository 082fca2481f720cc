"""schemathesis against the committed OpenAPI spec and the real server: no 5xx, and
no status code, Allow header, content type or response that breaks the spec.

Bounded (a few examples per operation, the stateful phase included) and seeded, so
that `make test` stays short and repeatable; `make fuzz` runs it wider and at random.
Request bodies the server refuses for rules a schema cannot state (an iterator
this server returned, a secret that decodes) are not counted against it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import ServerProcess

SPEC = Path(__file__).parents[2] / "docs" / "openapi.json"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "unsupported_method",
    ]
)
SEED = "287873158868260366235343669673956939962"


def fuzz(
    server: ServerProcess, examples: int, seed: str | None
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(SPEC),
        "--url",
        server.url,
        "-H",
        f"Authorization: Bearer {server.token}",
        "--max-examples",
        str(examples),
        "--request-timeout",
        "40",
        "--checks",
        CHECKS,
        "--no-color",
        "--phases",
        "examples,coverage,fuzzing,stateful",
    ]
    if seed is not None:
        command += ["--seed", seed]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


@pytest.mark.timeout(900)
def test_the_server_keeps_to_its_spec(server: ServerProcess) -> None:
    # `make fuzz` sets these: more examples, and a fresh seed each run.
    examples = int(os.environ.get("FUZZ_EXAMPLES", "5"))
    seed = os.environ.get("FUZZ_SEED", SEED) or None
    done = fuzz(server, examples, seed)
    tail = done.stdout[-6000:]
    assert done.returncode == 0, tail
    assert "74/74" in tail or "Tested:" in tail
