"""contrib/systemd: the API and worker units and their environment file.

systemd-analyze checks the units where it is installed; it needs no running systemd.
Nothing here starts them: that takes a machine booted with systemd."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.packaging.flags import ROOT, unknown_flags
from tidings.config import SETTINGS, Settings

UNITS = ROOT / "contrib" / "systemd"
COMMANDS = {"tidings-api.service": "api", "tidings-worker.service": "worker"}
INSTALLED_AT = "/opt/tidings/bin/tidings"
# systemd-analyze security's 0-10 scale ("OK" up to 4.0); the units score 1.7 today.
MOST_EXPOSURE = 2.5


def directives(unit: str) -> dict[str, list[str]]:
    """Every value of each "Section.Key", in order (a unit may repeat a key)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in (UNITS / unit).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def one(unit: str, key: str) -> str:
    values = directives(unit)[key]
    assert len(values) == 1, (unit, key, values)
    return values[0]


def sandbox(unit: str) -> list[str]:
    """The lines between the sandbox markers, which both units share verbatim."""
    text = (UNITS / unit).read_text()
    found = re.search(r"# --- Sandbox:.*?\n(.*)# --- end of sandbox ---", text, re.DOTALL)
    assert found, unit
    return [line for line in found.group(1).splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("unit", COMMANDS)
def test_exec_start_runs_its_command_with_flags_it_accepts(unit: str) -> None:
    program, *argv = shlex.split(one(unit, "Service.ExecStart"))
    assert program == INSTALLED_AT
    assert argv[0] == COMMANDS[unit]
    assert unknown_flags(argv) == []


@pytest.mark.parametrize("unit", COMMANDS)
def test_stopping_outlasts_the_shutdown_grace_and_signals_tidings_first(unit: str) -> None:
    timeout = one(unit, "Service.TimeoutStopSec")
    assert timeout.endswith("s")
    assert float(timeout.removesuffix("s")) > Settings().shutdown_grace
    assert one(unit, "Service.KillSignal") == "SIGTERM"
    assert one(unit, "Service.KillMode") == "mixed"
    assert one(unit, "Service.Restart") == "on-failure"


def test_both_units_share_one_sandbox_that_still_lets_actions_run_programs() -> None:
    api, worker = (sandbox(unit) for unit in COMMANDS)
    assert api == worker
    settings = dict(line.split("=", 1) for line in api if line)
    assert settings["User"] == "tidings"
    assert settings["StateDirectory"] == "tidings"
    assert settings["ProtectSystem"] == "strict"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["RestrictAddressFamilies"] == "AF_INET AF_INET6 AF_UNIX"
    # Command actions fork and exec; @system-service includes both.
    assert settings["SystemCallFilter"] == "@system-service"
    assert "MemoryDenyWriteExecute" not in settings


def test_the_environment_example_names_only_real_settings() -> None:
    known = {setting.env for setting in SETTINGS}
    text = (UNITS / "tidings.env.example").read_text()
    named = set(re.findall(r"^#?(TIDINGS_[A-Z_]+)=", text, re.MULTILINE))
    assert named, "no settings found"
    assert named - known == set()
    # The units read the file as root; the example must not pretend to hold a value.
    assert not re.search(r"^TIDINGS_", text, re.MULTILINE)


def installed_copies(tmp_path: Path) -> list[Path]:
    """The units with ExecStart pointing at this interpreter's `tidings`, since verify
    checks that the program exists and /opt/tidings is not installed here."""
    here = Path(sys.executable).parent / "tidings"
    assert here.exists(), here
    copies = []
    for unit in COMMANDS:
        copy = tmp_path / unit
        copy.write_text((UNITS / unit).read_text().replace(INSTALLED_AT, str(here)))
        copies.append(copy)
    return copies


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return found


def test_systemd_analyze_verify_finds_nothing_to_report(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    done = subprocess.run(
        [analyze, "verify", *map(str, installed_copies(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # An unknown or misspelt directive is only a warning with exit status 0.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_systemd_analyze_security_rates_both_units_well_exposed_at_most(
    tmp_path: Path,
) -> None:
    analyze = systemd_analyze()
    for copy in installed_copies(tmp_path):
        done = subprocess.run(
            [analyze, "security", "--offline=yes", "--no-pager", str(copy)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
        assert found, done.stdout + done.stderr
        assert float(found.group(1)) <= MOST_EXPOSURE, done.stdout
