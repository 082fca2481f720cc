"""`tidings completion bash|zsh|fish`: each script completes commands, flags and
values in its real shell (zsh and fish where installed)."""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tidings.cli import command_tree, completion
from tidings.cli.arguments import build_parser

needs_zsh = pytest.mark.skipif(
    shutil.which("zsh") is None, reason="zsh is not installed (apt-get install zsh)"
)
needs_fish = pytest.mark.skipif(
    shutil.which("fish") is None, reason="fish is not installed (apt-get install fish)"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A working folder with one file to complete the name of."""
    (tmp_path / "bundle.pem").write_text("")
    return tmp_path


def written(shell: str, folder: Path) -> Path:
    path = folder / f"tidings.{shell}"
    path.write_text(completion.script(shell, build_parser()))
    return path


def run(argv: list[str], folder: Path) -> str:
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def bash(folder: Path, *words: str) -> list[str]:
    """What bash offers for the last word of `tidings WORDS...`."""
    line = " ".join(shlex.quote(word) for word in ("tidings", *words))
    program = (
        f"source {written('bash', folder)}; COMP_WORDS=({line}); COMP_CWORD={len(words)}; "
        '_tidings; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    return sorted(filter(None, run(["bash", "--norc", "-c", program], folder).splitlines()))


def zsh(folder: Path, *words: str) -> list[str]:
    """What zsh's completion would be handed for `tidings WORDS...`: the completion
    system's functions are stand-ins that print their candidates."""
    line = " ".join(shlex.quote(word) for word in ("tidings", *words))
    stand_ins = (
        "compdef() { :; }; compset() { :; }; _files() { print -l FILES; }; "
        '_describe() { print -l -- "${(@)${(P)${@[-1]}}%%:*}"; }; '
        'compadd() { print -l -- "${(@P)${@[-1]}}"; }'
    )
    program = (
        f"{stand_ins}; source {written('zsh', folder)}; words=({line}); "
        f"CURRENT={len(words) + 1}; _tidings"
    )
    return sorted(filter(None, run(["zsh", "-f", "-c", program], folder).splitlines()))


def fish(folder: Path, line: str) -> list[str]:
    program = f"source {written('fish', folder)}; complete -C {shlex.quote('tidings ' + line)}"
    out = run(["fish", "--no-config", "-c", program], folder)
    return sorted(entry.split("\t", 1)[0] for entry in out.splitlines())


def long_flags(words: tuple[str, ...]) -> list[str]:
    """The command's flags as its --help lists them (hidden ones are the supervisor's)."""
    parser = dict(command_tree.walk(build_parser()))[words]
    shown = [action for action in parser._actions if action.help != argparse.SUPPRESS]
    return sorted(f for action in shown for f in action.option_strings if f.startswith("--"))


CASES = [
    (("ser",), ["serve"]),
    (("token", "c"), ["create"]),
    (("secrets", ""), ["new-key", "rotate-key"]),
    (("serve", "--log-f"), ["--log-format"]),
    (("serve", "--log-format", ""), ["auto", "console", "json"]),
    (("worker", "--metrics-po"), ["--metrics-port"]),
    (("api", "--metrics-po"), []),  # the API serves /metrics on its own port
    (("serve", "--port", "80", "--worker-n"), ["--worker-nice"]),
    (("serve", "--admin-token", "token", "--pub"), ["--public-docs", "--public-url"]),
    (("completion", ""), ["bash", "fish", "zsh"]),
    (("migrate", "--st"), ["--status"]),
]


@pytest.mark.parametrize(("words", "offered"), CASES)
def test_bash_completes(folder: Path, words: tuple[str, ...], offered: list[str]) -> None:
    assert bash(folder, *words) == offered


def test_bash_completes_a_flags_value_after_an_equals_sign(folder: Path) -> None:
    # bash's COMP_WORDBREAKS split `--log-format=j` into three words.
    assert bash(folder, "serve", "--log-format", "=", "j") == ["json"]
    assert bash(folder, "serve", "--log-format", "=") == ["auto", "console", "json"]


def test_bash_completes_file_names_for_file_settings(folder: Path) -> None:
    assert bash(folder, "worker", "--ca-file", "bun") == ["bundle.pem"]
    assert bash(folder, "worker", "--proxy-url", "bun") == []


@pytest.mark.parametrize(
    "words", [words for words, _ in command_tree.walk(build_parser()) if words]
)
def test_bash_offers_every_flag_of_every_command(folder: Path, words: tuple[str, ...]) -> None:
    assert [flag for flag in bash(folder, *words, "--")] == long_flags(words)


@needs_zsh
def test_the_zsh_script_parses(folder: Path) -> None:
    run(["zsh", "-n", str(written("zsh", folder))], folder)


@needs_zsh
@pytest.mark.parametrize(("words", "offered"), CASES)
def test_zsh_completes(folder: Path, words: tuple[str, ...], offered: list[str]) -> None:
    found = zsh(folder, *words)
    # zsh filters by the typed prefix itself; the script hands it the candidates.
    assert [word for word in found if word.startswith(words[-1])] == offered


@needs_zsh
def test_zsh_completes_values_after_an_equals_sign_and_file_names(folder: Path) -> None:
    assert zsh(folder, "serve", "--log-format=j") == ["auto", "console", "json"]
    assert zsh(folder, "worker", "--client-key-file", "") == ["FILES"]


@needs_fish
def test_the_fish_script_parses(folder: Path) -> None:
    run(["fish", "--no-config", "-n", str(written("fish", folder))], folder)


@needs_fish
@pytest.mark.parametrize(("words", "offered"), CASES)
def test_fish_completes(folder: Path, words: tuple[str, ...], offered: list[str]) -> None:
    assert fish(folder, " ".join(words)) == offered


@needs_fish
def test_fish_completes_values_after_an_equals_sign_and_file_names(folder: Path) -> None:
    assert fish(folder, "serve --log-format=j") == ["--log-format=json"]
    assert fish(folder, "worker --ca-file bun") == ["bundle.pem"]
