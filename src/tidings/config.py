"""Every setting of Tidings, in one place.

Each setting has a `TIDINGS_*` environment variable and a CLI flag of the same
name (`--request-timeout` for `TIDINGS_REQUEST_TIMEOUT`). Settings are read only at
entry points (the CLI, the test harness) and passed down; nothing else reads the
environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from tidings.domain.retry import DEFAULT_SCHEDULE, parse_schedule

if TYPE_CHECKING:
    from tidings.storage.sealing import KeyRing


def _schedule_text(schedule: tuple[float, ...]) -> str:
    return ",".join(f"{delay:g}" for delay in schedule)


@dataclass(frozen=True)
class Setting:
    """Documentation and parsing of one setting, shared by env, CLI and docs."""

    name: str
    help: str
    parse: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "TIDINGS_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_switch(self) -> bool:
        """A yes/no setting: its flag takes no value."""
        return self.parse is _bool


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean, got {text!r}")


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


def _process_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise ValueError(f"expected 1 to 64 processes, got {text!r}")
    return value


def _nice(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 19:
        raise ValueError(f"expected a nice value from 0 to 19, got {text!r}")
    return value


def _pool_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise ValueError(f"expected 1 to 1000 connections, got {text!r}")
    return value


def _key_ring_text(text: str) -> str:
    from tidings.storage.sealing import KeyRing

    KeyRing.parse(text)  # refused here, naming the setting, rather than at first use
    return text


def key_ring(settings: Settings) -> KeyRing | None:
    """The ring of `TIDINGS_SECRET_KEY`, or None to let the backend decide."""
    from tidings.storage.sealing import KeyRing

    return KeyRing.parse(settings.secret_key) if settings.secret_key else None


def _existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise ValueError(f"no such file: {text!r}")
    return text


def _proxy_url(text: str) -> str:
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        raise ValueError(f"expected http://[user:password@]host:port or https://..., got {text!r}")
    return text


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8040
    database_url: str = "sqlite:///.tidings/tidings.db"
    database_pool_size: int = 10
    admin_token: str | None = None
    secret_key: str = ""
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    request_timeout: float = 15.0
    dev: bool = False
    allowed_subnets: str = ""
    worker_concurrency: int = 512
    endpoint_concurrency: int = 32
    max_payload_bytes: int = 1024 * 1024
    shutdown_grace: float = 10.0
    lease_seconds: float = 30.0
    disable_after: float = 5 * 24 * 3600
    public_url: str = ""
    config: str = ""
    config_allow_shared_write: bool = False
    public_docs: bool = False
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 10_000
    api_processes: int = 1
    worker_nice: int = 10
    ca_file: str = ""
    proxy_url: str = ""
    client_cert_file: str = ""
    client_key_file: str = ""

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "Address the HTTP API listens on."),
    Setting("port", "Port the HTTP API listens on.", int),
    Setting(
        "api_processes",
        "HTTP processes `tidings api` or `tidings serve` runs on its one port, to use "
        "more than one core (each has its own database connections); `serve` then runs "
        "its worker as a process of its own beside them, below their CPU priority.",
        _process_count,
    ),
    Setting(
        "worker_nice",
        "CPU priority (a nice value, 0 to 19) `tidings worker` lowers itself and the "
        "programs its actions run to, so that receiving webhooks gets the CPU first on a "
        "busy machine; 0 leaves it unchanged. So does the worker process of `serve "
        "--api-processes N`; one-process `serve` is not lowered.",
        _nice,
    ),
    Setting(
        "database_url",
        "sqlite:///path/to/file.db (embedded) or postgresql://user@host/db.",
    ),
    Setting(
        "database_pool_size",
        "Most PostgreSQL connections each process keeps open (a worker holds one more, "
        "for LISTEN). Ignored with SQLite.",
        _pool_size,
    ),
    Setting(
        "admin_token",
        "Bearer token with full access. Unset: the first start generates one, "
        "stores only its hash, and prints it once.",
    ),
    Setting(
        "secret_key",
        "Keys that seal secrets at rest (endpoint secrets and headers, source configs, "
        "ingest tokens): base64 of 32 bytes each, comma-separated, the first sealing and every "
        "one opening (`tidings secrets new-key` makes one). Unset with SQLite: a key file "
        "beside the database, made at the first start; PostgreSQL needs it.",
        _key_ring_text,
    ),
    Setting(
        "retry_schedule",
        "Seconds to wait before each attempt, comma-separated; fractions allowed. "
        "Each delay gets ±20% jitter; after the last entry the delivery fails.",
        parse_schedule,
    ),
    Setting("request_timeout", "Overall deadline of one delivery attempt, in seconds.", _positive),
    Setting(
        "dev",
        "Development mode: endpoints on loopback are allowed and weak tokens are accepted.",
        _bool,
    ),
    Setting(
        "allowed_subnets",
        "Comma-separated CIDRs that endpoints may reach although they are not public.",
    ),
    Setting(
        "ca_file",
        "PEM bundle of CAs that delivery trusts in addition to the system's, for "
        "endpoints whose certificates a private CA issued.",
        _existing_file,
    ),
    Setting(
        "proxy_url",
        "Forward proxy every delivery goes through (http:// or https://, with optional "
        "user:password@). Tidings still resolves and vets each destination itself and asks "
        "the proxy for that address: CONNECT for https endpoints, absolute-form for http.",
        _proxy_url,
    ),
    Setting(
        "client_cert_file",
        "PEM client certificate (and its key, unless `TIDINGS_CLIENT_KEY_FILE` names it) "
        "that deliveries present to endpoints asking for mutual TLS.",
        _existing_file,
    ),
    Setting("client_key_file", "PEM private key of `TIDINGS_CLIENT_CERT_FILE`.", _existing_file),
    Setting("worker_concurrency", "Delivery attempts in flight per worker process.", int),
    Setting(
        "endpoint_concurrency",
        "Most attempts in flight to one endpoint per worker; each endpoint starts lower "
        "and earns more with successes.",
        int,
    ),
    Setting("max_payload_bytes", "Largest message payload accepted, in bytes.", int),
    Setting(
        "shutdown_grace",
        "Seconds a stopping worker lets in-flight attempts finish before handing them back.",
        _positive,
    ),
    Setting(
        "lease_seconds",
        "How long a claimed delivery stays with a worker that stops renewing it (one that "
        "died); live workers renew every third of it.",
        _positive,
    ),
    Setting(
        "disable_after",
        "Seconds of nothing but failed attempts after which an endpoint is disabled.",
        _positive,
    ),
    Setting(
        "public_url",
        "Base URL senders reach this server at (https://hooks.example.com), used in "
        "sources' ingest URLs. Unset: taken from each API request's scheme and Host.",
    ),
    Setting(
        "config",
        "Path of a TOML file declaring sources and their actions (commands, Python "
        "callables, forwards); re-read when it changes.",
    ),
    Setting(
        "header_timeout",
        "Seconds a client has to send a request's headers, from its first byte (or from "
        "connecting); then 408 and the connection is closed. Headers over 64 KiB or 256 "
        "fields get 431.",
        _positive,
    ),
    Setting(
        "body_timeout",
        "Seconds a client has to send a request's body once its headers are in.",
        _positive,
    ),
    Setting(
        "max_connections",
        "Open connections each API process accepts; beyond that, new ones are closed.",
        int,
    ),
    Setting(
        "public_docs",
        "Serve /docs, /redoc and /openapi.json without a token (they list every route).",
        _bool,
    ),
    Setting(
        "config_allow_shared_write",
        "Accept a config file, or a config directory, that group or others may write "
        "(refused by default: whoever can change it makes Tidings run their commands).",
        _bool,
    ),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}
_DEFAULTS = Settings()


def default_text(setting: Setting) -> str:
    value = getattr(_DEFAULTS, setting.name)
    if setting.name == "retry_schedule":
        return _schedule_text(value)
    return "" if value is None else str(value)


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `TIDINGS_*` variables; a malformed value raises ValueError naming it."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None or raw == "":
            continue
        values[setting.name] = parse_value(setting.name, raw)
    return Settings(**values)


def parse_value(name: str, raw: str) -> Any:
    setting = _BY_NAME[name]
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise ValueError(f"{setting.env}={raw!r}: {exc}") from None


def settings_table() -> str:
    """The Markdown table of settings that docs/configuration.md embeds."""
    lines = ["| variable | flag | default | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default = default_text(setting) or "—"
        lines.append(f"| `{setting.env}` | `{setting.flag}` | `{default}` | {setting.help} |")
    return "\n".join(lines)


assert {f.name for f in fields(Settings)} >= set(_BY_NAME), "every Setting must be a field"
