"""The config file: sources and their actions, declared by the operator.

Commands and Python callables run code on this machine, so they can be declared
only here, in a file on the machine, and never through the HTTP API. The file is
TOML:

    [[source]]
    uid = "deploys"                 # names the source; the API finds it by this uid
    type = "github"
    secrets = ["${GITHUB_WEBHOOK_SECRET}"]   # ${NAME} reads the environment
    forward_headers = ["x-github-event"]

      [[source.action]]
      name = "deploy"
      command = ["./deploy.sh", "{payload.repository.full_name}", "{payload.after}"]
      env = { GIT_REF = "{payload.ref}" }
      match = { "header.x-github-event" = "push" }
      timeout = 300
      serial = true

Everything is checked when the file is read: a typo in a key, a template, a
missing program or an unimportable callable is an error naming its place
(`source[0].action[1].timeout: …`), never a surprise when a webhook arrives.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidings.ingest.actions import python_call, templates
from tidings.ingest.actions.base import Action, Condition, Limits
from tidings.ingest.actions.command import CommandAction
from tidings.ingest.actions.python_call import PythonAction
from tidings.ingest.sources import FORWARD_HEADERS, check_config

_UID = re.compile(r"^[a-zA-Z0-9\-_.]{1,256}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MIN_PINNED_TOKEN = 24
_SOURCE_KEYS = {
    "uid",
    "name",
    "type",
    "secret",
    "secrets",
    "token",
    "forward_headers",
    "config",
    "action",
}
_LIMIT_KEYS = {"timeout", "concurrency", "serial", "match"}
_COMMAND_KEYS = {
    "name",
    "command",
    "env",
    "inherit_env",
    "stdin",
    "cwd",
    "allow_dash",
    *_LIMIT_KEYS,
}
_PYTHON_KEYS = {"name", "python", *_LIMIT_KEYS}
_FORWARD_KEYS = {"name", "forward", "secret"}


class ConfigError(ValueError):
    """The file cannot be used; the message names the place and the problem."""


@dataclass(frozen=True)
class Forward:
    """A forward declared in the file: an ordinary endpoint of the source."""

    name: str
    url: str
    secret: str | None = None


@dataclass(frozen=True)
class DeclaredSource:
    uid: str
    name: str
    type: str
    # As stored: the verifier's config plus `forwardHeaders`.
    config: dict[str, Any]
    token: str | None
    actions: tuple[Action, ...] = ()
    forwards: tuple[Forward, ...] = ()


@dataclass(frozen=True)
class FileConfig:
    path: str
    sources: tuple[DeclaredSource, ...] = ()
    _actions: dict[tuple[str, str], Action] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for source in self.sources:
            for action in source.actions:
                self._actions[(source.uid, action.name)] = action

    def action(self, source_uid: str, name: str) -> Action | None:
        return self._actions.get((source_uid, name))


def _check_private(file: Path) -> None:
    """The file runs commands and imports code as Tidings: whoever can change it, or
    its directory, can do so too. Refuse it when that is anyone but its owner's group."""
    for path in (file, file.resolve().parent):
        try:
            mode = path.stat().st_mode
        except OSError:
            return  # reading it says why
        if mode & 0o022:
            raise ConfigError(
                f"{path}: writable by group or others, who could make Tidings run anything; "
                "`chmod go-w` it, or set TIDINGS_CONFIG_ALLOW_SHARED_WRITE=1 to accept that"
            )


def load(path: str | os.PathLike[str], allow_shared_write: bool = False) -> FileConfig:
    """Read and check the file; ConfigError naming the first problem found."""
    file = Path(path)
    if not allow_shared_write:
        _check_private(file)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    base = file.resolve().parent
    _importable_from(base)
    try:
        reader = _Reader(document, "")
        reader.only({"source"})
        sources = tuple(_source(item, base) for item in reader.tables("source"))
        _unique((s.uid for s in sources), "source uid")
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    return FileConfig(str(file), sources)


def _importable_from(base: Path) -> None:
    # Python actions usually live next to the file that names them.
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))


def _source(reader: _Reader, base: Path) -> DeclaredSource:
    reader.only(_SOURCE_KEYS)
    uid = reader.required("uid")
    if not _UID.match(uid):
        raise reader.error("uid", "use 1-256 letters, digits, '-', '_' or '.'")
    config = dict(reader.table("config"))
    for key in ("secret", "secrets"):
        if key in reader.data:
            config[key] = reader.data[key]
    if "forward_headers" in reader.data:
        config[FORWARD_HEADERS] = reader.data["forward_headers"]
    source_type = reader.required("type")
    config = reader.expand(config, "secrets")
    try:
        stored = check_config(source_type, config)
    except ValueError as exc:
        where = "type" if "unknown source type" in str(exc) else "config"
        raise reader.error(where, str(exc)) from None
    actions, forwards = _actions(reader, base)
    return DeclaredSource(
        uid=uid,
        name=reader.text("name") or uid,
        type=source_type,
        config=stored,
        token=_pinned_token(reader),
        actions=actions,
        forwards=forwards,
    )


def _pinned_token(reader: _Reader) -> str | None:
    token = reader.text("token")
    if token is None:
        return None
    token = str(reader.expand(token, "token"))
    if len(token) < MIN_PINNED_TOKEN or not re.match(r"^[A-Za-z0-9\-_]+$", token):
        raise reader.error(
            "token",
            f"use at least {MIN_PINNED_TOKEN} URL-safe characters "
            "(it is the secret part of the ingest URL)",
        )
    return token


def _actions(reader: _Reader, base: Path) -> tuple[tuple[Action, ...], tuple[Forward, ...]]:
    actions: list[Action] = []
    forwards: list[Forward] = []
    for item in reader.tables("action"):
        kinds = [kind for kind in ("command", "python", "forward") if kind in item.data]
        if len(kinds) != 1:
            raise item.error("", "give exactly one of command, python or forward")
        if kinds[0] == "forward":
            forwards.append(_forward(item))
        else:
            actions.append(_command(item, base) if kinds[0] == "command" else _python(item))
    _unique([*(a.name for a in actions), *(f.name for f in forwards)], reader.where("action name"))
    return tuple(actions), tuple(forwards)


def _name(reader: _Reader) -> str:
    name = reader.required("name")
    if not _UID.match(name):
        raise reader.error("name", "use 1-256 letters, digits, '-', '_' or '.'")
    return name


def _limits(reader: _Reader) -> tuple[Limits, tuple[Condition, ...]]:
    timeout = reader.number("timeout", 60.0)
    wanted = reader.number("concurrency", 4)
    concurrency = int(wanted)
    if timeout <= 0 or concurrency < 1 or concurrency != wanted:
        raise reader.error(
            "timeout" if timeout <= 0 else "concurrency",
            "must be a positive number (concurrency a whole one)",
        )
    serial = reader.flag("serial", False)
    conditions = tuple(
        Condition(reader.template(f"match.{key}", f"{{{key}}}"), str(expected))
        for key, expected in reader.table("match").items()
    )
    return Limits(timeout, concurrency, serial), conditions


def _command(reader: _Reader, base: Path) -> CommandAction:
    reader.only(_COMMAND_KEYS)
    argv = reader.strings("command")
    if not argv:
        raise reader.error("command", "must be a non-empty list: the program, then arguments")
    cwd = Path(reader.text("cwd") or base)
    cwd = cwd if cwd.is_absolute() else base / cwd
    if not cwd.is_dir():
        raise reader.error("cwd", f"{cwd} is not a directory")
    program = _program(reader, argv[0], cwd)
    env = reader.table("env")
    for name in env:
        if not _ENV_NAME.match(name):
            raise reader.error(f"env.{name}", "is not a valid environment variable name")
    limits, conditions = _limits(reader)
    return CommandAction(
        name=_name(reader),
        limits=limits,
        match=conditions,
        argv=(
            templates.parse(program),
            *(reader.template(f"command[{i + 1}]", a) for i, a in enumerate(argv[1:])),
        ),
        env={name: reader.template(f"env.{name}", str(value)) for name, value in env.items()},
        inherit_env=tuple(reader.strings("inherit_env")),
        stdin=reader.flag("stdin", True),
        cwd=str(cwd),
        allow_dash=reader.flag("allow_dash", False),
    )


def _program(reader: _Reader, program: str, cwd: Path) -> str:
    """The program's path: relative paths are from the working directory, bare
    names are looked up on PATH; either way it must exist and be executable now."""
    if "{" in program:
        raise reader.error("command[0]", "the program itself cannot be a template")
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else cwd / program
        found = str(path) if os.access(path, os.X_OK) and path.is_file() else None
    else:
        found = shutil.which(program)
    if found is None:
        raise reader.error("command[0]", f"{program!r} is not an executable file")
    return found.replace("{", "{{").replace("}", "}}")


def _python(reader: _Reader) -> PythonAction:
    reader.only(_PYTHON_KEYS)
    target = reader.required("python")
    try:
        function = python_call.resolve(target)
    except ValueError as exc:
        raise reader.error("python", str(exc)) from None
    limits, conditions = _limits(reader)
    return PythonAction(
        name=_name(reader), limits=limits, match=conditions, target=target, function=function
    )


def _forward(reader: _Reader) -> Forward:
    reader.only(_FORWARD_KEYS)
    url = reader.required("forward")
    if not re.match(r"^https?://[^/\s]+", url):
        raise reader.error("forward", "must be an http:// or https:// URL")
    secret = reader.text("secret")
    if secret is not None:
        secret = str(reader.expand(secret, "secret"))
        if not secret.startswith("whsec_"):
            raise reader.error("secret", "must be a whsec_… signing secret")
    return Forward(_name(reader), url, secret)


def _unique(values: Iterator[str] | list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"{what} {value!r} is declared twice")
        seen.add(value)


class _Reader:
    """Typed access to one table of the document, with errors naming its place."""

    def __init__(self, data: Any, place: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{place}: expected a table")
        self.data: Mapping[str, Any] = data
        self.place = place

    def where(self, key: str) -> str:
        return ".".join(part for part in (self.place, key) if part)

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: {problem}")

    def only(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.data) - allowed)
        if unknown:
            raise self.error(unknown[0], f"unknown key; allowed: {', '.join(sorted(allowed))}")

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.error(key, "must be a non-empty string")
        return value

    def required(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise self.error(key, "is required")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, "must be a number")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def strings(self, key: str) -> list[str]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "must be a list of strings")
        return value

    def table(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(key, "must be a table")
        return value

    def tables(self, key: str) -> list[_Reader]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of tables ([[{key}]])")
        return [_Reader(item, f"{self.where(key)}[{i}]") for i, item in enumerate(value)]

    def template(self, key: str, text: str) -> templates.Template:
        try:
            return templates.parse(text)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def expand(self, value: Any, key: str) -> Any:
        """`${NAME}` in strings (nested in lists and tables) from the environment."""
        if isinstance(value, str):
            return _VARIABLE.sub(lambda m: self._variable(m.group(1), key), value)
        if isinstance(value, list):
            return [self.expand(item, key) for item in value]
        if isinstance(value, Mapping):
            return {name: self.expand(item, key) for name, item in value.items()}
        return value

    def _variable(self, name: str, key: str) -> str:
        if name not in os.environ:
            raise self.error(key, f"environment variable {name} is not set")
        return os.environ[name]
