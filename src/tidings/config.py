"""Every setting of Tidings, in one place.

Each setting has a `TIDINGS_*` environment variable and a CLI flag of the same
name (`--request-timeout` for `TIDINGS_REQUEST_TIMEOUT`), and names the commands
whose flag it is: the CLI builds its flags from this table, and the docs' table
comes from it too. Settings are read only at entry points (the CLI, the test
harness) and passed down; nothing else reads the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tidings.domain.retry import DEFAULT_SCHEDULE, parse_schedule

if TYPE_CHECKING:
    from tidings.storage.sealing import KeyRing

# The commands whose flags a setting is, as their words after `tidings`. Every
# command reads the TIDINGS_* variables, whichever flags it takes.
_API = ("serve", "api")
_WORKER = ("serve", "worker")
_WORKER_ONLY = ("worker",)
_SERVICES = ("serve", "api", "worker")
_DATABASE = (
    *_SERVICES,
    "migrate",
    "token create",
    "token list",
    "token revoke",
    "secrets rotate-key",
)


def _schedule_text(schedule: tuple[float, ...]) -> str:
    return ",".join(f"{delay:g}" for delay in schedule)


@dataclass(frozen=True)
class Setting:
    """Documentation and parsing of one setting, shared by env, CLI and docs."""

    name: str
    help: str
    parse: Callable[[str], Any] = str
    # Never shown: the start-up line and errors print only whether it is set.
    secret: bool = False
    # The commands that take it as a flag ("serve", "token create").
    commands: tuple[str, ...] = field(default=(), kw_only=True)
    # Its value is a file's path (shells complete file names for it).
    names_file: bool = field(default=False, kw_only=True)

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

    @property
    def choices(self) -> tuple[str, ...]:
        """The values it accepts, when they are a short list."""
        return self.parse.choices if isinstance(self.parse, _Choice) else ()


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected a boolean (true or false)")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        # int()'s own message repeats the value, which the caller already shows.
        raise ValueError("expected a whole number") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected a number") from None
    if not value > 0:  # also refuses nan
        raise ValueError("expected a positive number")
    return value


def _within(low: int, high: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _integer(text)
        if not low <= value <= high:
            raise ValueError(f"expected {what}")
        return value

    return parse


_process_count = _within(1, 64, "1 to 64 processes")
_nice = _within(0, 19, "a nice value from 0 to 19")
_pool_size = _within(1, 1000, "1 to 1000 connections")
_port_or_off = _within(0, 65535, "a port from 1 to 65535, or 0 for none")


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
        raise ValueError("no such file")
    return text


class _Choice:
    """One of a few words, in any case; they are listed in help and completions."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def __call__(self, text: str) -> str:
        lowered = text.strip().lower()
        if lowered not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}")
        return lowered


_DATABASE_HINT = "use sqlite:///path or postgresql://..."


def _database_url(text: str) -> str:
    """Refused here, as the setting is read, so every command names the flag or the
    variable at once instead of failing (with a traceback) when it connects."""
    scheme, separator, rest = text.partition("://")
    if not separator:
        raise ValueError(f"not a database URL; {_DATABASE_HINT}")
    if scheme == "sqlite":
        # The path follows the third slash: sqlite:///relative.db, sqlite:////abs.db.
        if not rest.startswith("/") or not rest.strip("/"):
            raise ValueError("expected sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return text
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"unsupported scheme {scheme!r}; {_DATABASE_HINT}")
    try:
        port = urlsplit(text).port  # reading it checks it; a bad IPv6 address raises too
    except ValueError as exc:
        raise ValueError(f"malformed PostgreSQL URL: {exc}") from None
    if port == 0:
        raise ValueError("malformed PostgreSQL URL: port 0")
    return text


def _proxy_url(text: str) -> str:
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        raise ValueError("expected http://[user:password@]host:port or https://...")
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
    log_format: str = "auto"
    log_level: str = "info"
    log_attempts: str = "all"
    metrics_public: bool = False
    metrics_app_labels: bool = False
    metrics_port: int = 0
    trace_propagation: bool = False

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "host",
        "Address the HTTP API listens on (and `tidings worker`'s metrics port).",
        commands=_SERVICES,
    ),
    Setting("port", "Port the HTTP API listens on.", _integer, commands=_API),
    Setting(
        "api_processes",
        "HTTP processes `tidings api` or `tidings serve` runs on its one port, to use "
        "more than one core (each has its own database connections); `serve` then runs "
        "its worker as a process of its own beside them, below their CPU priority.",
        _process_count,
        commands=_API,
    ),
    Setting(
        "worker_nice",
        "CPU priority (a nice value, 0 to 19) `tidings worker` lowers itself and the "
        "programs its actions run to, so that receiving webhooks gets the CPU first on a "
        "busy machine; 0 leaves it unchanged. So does the worker process of `serve "
        "--api-processes N`; one-process `serve` is not lowered.",
        _nice,
        commands=_WORKER,
    ),
    Setting(
        "database_url",
        "sqlite:///path/to/file.db (embedded) or postgresql://user@host/db.",
        _database_url,
        commands=_DATABASE,
    ),
    Setting(
        "database_pool_size",
        "Most PostgreSQL connections each process keeps open (a worker holds one more, "
        "for LISTEN). Ignored with SQLite.",
        _pool_size,
        commands=_DATABASE,
    ),
    Setting(
        "admin_token",
        "Bearer token with full access. Unset: the first start generates one, "
        "stores only its hash, and prints it once.",
        secret=True,
        commands=_SERVICES,
    ),
    Setting(
        "secret_key",
        "Keys that seal secrets at rest (endpoint secrets and headers, source configs, "
        "ingest tokens): base64 of 32 bytes each, comma-separated, the first sealing and every "
        "one opening (`tidings secrets new-key` makes one). Unset with SQLite: a key file "
        "beside the database, made at the first start; PostgreSQL needs it.",
        _key_ring_text,
        secret=True,
        commands=_DATABASE,
    ),
    Setting(
        "retry_schedule",
        "Seconds to wait before each attempt, comma-separated; fractions allowed. "
        "Each delay gets ±20% jitter; after the last entry the delivery fails.",
        parse_schedule,
        commands=_WORKER,
    ),
    Setting(
        "request_timeout",
        "Overall deadline of one delivery attempt, in seconds.",
        _positive,
        commands=_WORKER,
    ),
    Setting(
        "dev",
        "Development mode: endpoints on loopback are allowed and weak tokens are accepted.",
        _bool,
        commands=_SERVICES,
    ),
    Setting(
        "allowed_subnets",
        "Comma-separated CIDRs that endpoints may reach although they are not public.",
        commands=_WORKER,
    ),
    Setting(
        "ca_file",
        "PEM bundle of CAs that delivery trusts in addition to the system's, for "
        "endpoints whose certificates a private CA issued.",
        _existing_file,
        commands=_WORKER,
        names_file=True,
    ),
    Setting(
        "proxy_url",
        "Forward proxy every delivery goes through (http:// or https://, with optional "
        "user:password@). Tidings still resolves and vets each destination itself and asks "
        "the proxy for that address: CONNECT for https endpoints, absolute-form for http.",
        _proxy_url,
        commands=_WORKER,
    ),
    Setting(
        "client_cert_file",
        "PEM client certificate (and its key, unless `TIDINGS_CLIENT_KEY_FILE` names it) "
        "that deliveries present to endpoints asking for mutual TLS.",
        _existing_file,
        commands=_WORKER,
        names_file=True,
    ),
    Setting(
        "client_key_file",
        "PEM private key of `TIDINGS_CLIENT_CERT_FILE`.",
        _existing_file,
        commands=_WORKER,
        names_file=True,
    ),
    Setting(
        "worker_concurrency",
        "Delivery attempts in flight per worker process.",
        _integer,
        commands=_WORKER,
    ),
    Setting(
        "endpoint_concurrency",
        "Most attempts in flight to one endpoint per worker; each endpoint starts lower "
        "and earns more with successes.",
        _integer,
        commands=_WORKER,
    ),
    Setting(
        "max_payload_bytes",
        "Largest message payload accepted, in bytes.",
        _integer,
        commands=_SERVICES,
    ),
    Setting(
        "shutdown_grace",
        "Seconds a stopping worker lets in-flight attempts finish before handing them back.",
        _positive,
        commands=_WORKER,
    ),
    Setting(
        "lease_seconds",
        "How long a claimed delivery stays with a worker that stops renewing it (one that "
        "died); live workers renew every third of it.",
        _positive,
        commands=_WORKER,
    ),
    Setting(
        "disable_after",
        "Seconds of nothing but failed attempts after which an endpoint is disabled.",
        _positive,
        commands=_WORKER,
    ),
    Setting(
        "public_url",
        "Base URL senders reach this server at (https://hooks.example.com), used in "
        "sources' ingest URLs. Unset: taken from each API request's scheme and Host.",
        commands=_API,
    ),
    Setting(
        "config",
        "Path of a TOML file declaring sources and their actions (commands, Python "
        "callables, forwards); re-read when it changes.",
        commands=_SERVICES,
        names_file=True,
    ),
    Setting(
        "header_timeout",
        "Seconds a client has to send a request's headers, from its first byte (or from "
        "connecting); then 408 and the connection is closed. Headers over 64 KiB or 256 "
        "fields get 431.",
        _positive,
        commands=_API,
    ),
    Setting(
        "body_timeout",
        "Seconds a client has to send a request's body once its headers are in.",
        _positive,
        commands=_API,
    ),
    Setting(
        "max_connections",
        "Open connections each API process accepts; beyond that, new ones are closed.",
        _integer,
        commands=_API,
    ),
    Setting(
        "public_docs",
        "Serve /docs, /redoc and /openapi.json without a token (they list every route).",
        _bool,
        commands=_API,
    ),
    Setting(
        "log_format",
        "Log lines as `json` (one object per line), `console` (for people), or `auto`: "
        "console on a terminal, JSON otherwise.",
        _Choice("auto", "json", "console"),
        commands=_DATABASE,
    ),
    Setting(
        "log_level",
        "Least severe log lines written.",
        _Choice("debug", "info", "warning", "error"),
        commands=_DATABASE,
    ),
    Setting(
        "log_attempts",
        "Which delivery attempts get a log line: `all`, `failures` (for high throughput), "
        "or `none`.",
        _Choice("all", "failures", "none"),
        commands=_WORKER,
    ),
    Setting(
        "metrics_public",
        "Serve /metrics (the API's, and a worker's on `TIDINGS_METRICS_PORT`) without a "
        "token; it needs the admin token otherwise.",
        _bool,
        commands=_SERVICES,
    ),
    Setting(
        "metrics_app_labels",
        "Label message counts with their application id (one series per application: "
        "mind the cardinality).",
        _bool,
        commands=_SERVICES,
    ),
    Setting(
        "metrics_port",
        "Port on which `tidings worker` serves /metrics, /livez and /readyz (on "
        "`TIDINGS_HOST`); 0 serves none.",
        _port_or_off,
        commands=_WORKER_ONLY,
    ),
    Setting(
        "trace_propagation",
        "Send each message's W3C `traceparent` (from the request that created it) to every "
        "endpoint; an endpoint can ask for it alone (see docs/operations.md).",
        _bool,
        commands=_WORKER,
    ),
    Setting(
        "config_allow_shared_write",
        "Accept a config file, or a config directory, that group or others may write "
        "(refused by default: whoever can change it makes Tidings run their commands).",
        _bool,
        commands=_SERVICES,
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
    return load({}, environ)


def load(flags: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the flags given (by setting name), else from `TIDINGS_*`
    variables (an empty one counts as unset). A malformed value raises ValueError
    naming what the user typed: the flag, or the variable when the flag was not
    given (a variable a flag overrides is not read at all)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if (given := flags.get(setting.name)) is not None:
            values[setting.name] = parse_value(setting.name, given, setting.flag)
        elif raw := environ.get(setting.env):
            values[setting.name] = parse_value(setting.name, raw)
    return Settings(**values)


def parse_value(name: str, raw: str, given_as: str | None = None) -> Any:
    """`raw` parsed as setting `name`; a ValueError names `given_as` (a flag), or
    else the variable, with the value unless it is a secret."""
    setting = _BY_NAME[name]
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise ValueError(f"{_typed(setting, raw, given_as)}: {exc}") from None


def _typed(setting: Setting, raw: str, given_as: str | None) -> str:
    """What the user typed, as they typed it: `--port 'x'` or `TIDINGS_PORT='x'`."""
    where = given_as or setting.env
    if setting.secret:
        return where
    joiner = " " if given_as else "="
    return f"{where}{joiner}{_without_password(raw)!r}"


def settings_for(command: str) -> tuple[Setting, ...]:
    """The settings `command` ("serve", "token create") takes as flags."""
    return tuple(setting for setting in SETTINGS if command in setting.commands)


def shown(settings: Settings) -> dict[str, Any]:
    """Every setting's effective value, fit for a log line: secrets say only whether
    they are set, and URLs lose their passwords."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value = getattr(settings, setting.name)
        if setting.secret:
            value = "(set)" if value else "(unset)"
        elif setting.name == "retry_schedule":
            value = _schedule_text(value)
        elif isinstance(value, str) and "://" in value:
            value = _without_password(value)
        values[setting.name] = value
    return values


# scheme://user:password@ at the start of a URL. A pattern rather than urlsplit,
# which raises on the malformed URLs an error message must show too.
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#@]*@")


def _without_password(url: str) -> str:
    return _PASSWORD.sub(r"\1:***@", url)


def settings_table() -> str:
    """The Markdown table of settings that docs/configuration.md embeds."""
    lines = [
        "| variable | flag | default | commands | meaning |",
        "|---|---|---|---|---|",
    ]
    for setting in SETTINGS:
        default = default_text(setting) or "—"
        lines.append(
            f"| `{setting.env}` | `{setting.flag}` | `{default}` | "
            f"{_commands_text(setting)} | {setting.help} |"
        )
    return "\n".join(lines)


def _commands_text(setting: Setting) -> str:
    """`serve`, `api`, `token` (for all of its sub-commands) ..., in table order."""
    shown_: list[str] = []
    for command in setting.commands:
        parent = command.split()[0]
        siblings = [c for c in setting.commands if c.split()[0] == parent]
        name = parent if len(siblings) > 1 else command
        if name not in shown_:
            shown_.append(name)
    return ", ".join(f"`{name}`" for name in shown_)


assert {f.name for f in fields(Settings)} == set(_BY_NAME), "one Setting per field"
assert all(setting.commands for setting in SETTINGS), "every setting is some command's flag"
