"""The systemd units: ``systemd-analyze verify`` passes on both, and the system unit's sandbox rates "OK"
or better in ``systemd-analyze security``. verify insists that ExecStart's program exists, so the units
are checked as installed: with ExecStart pointing at this environment's ``alttext`` command."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from watchkit import alttext_command

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SHIPPED_PATHS = ("/usr/local/bin/alttext", "%h/.local/bin/alttext")
GOOD_RATINGS = ("PERFECT", "SAFE", "OK")  # systemd's scale: PERFECT < SAFE < OK < MEDIUM < EXPOSED < UNSAFE

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed (Debian/Ubuntu package: systemd)")


def _installed(name: str, folder: Path) -> Path:
    text = (UNITS / name).read_text()
    program = alttext_command()[0]
    assert any(path in text for path in SHIPPED_PATHS)
    for path in SHIPPED_PATHS:
        text = text.replace(path, program)
    unit = folder / name
    unit.write_text(text)
    return unit


def _analyze(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "runtime"  # the --user checks want a user runtime folder, even offline
    runtime.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp_path)})


@pytest.mark.parametrize(("name", "scope"), [("alttext.service", "--user"), ("alttext-system.service", "--system"),
                                            ("alttext-serve.service", "--user")])
def test_units_verify(name: str, scope: str, tmp_path: Path) -> None:
    unit = _installed(name, tmp_path)
    result = _analyze(scope, "verify", str(unit), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert name not in result.stderr, result.stderr  # no warnings about the unit either


def test_units_are_notify_services_with_a_watchdog() -> None:
    for name in ("alttext.service", "alttext-system.service"):
        text = (UNITS / name).read_text()
        for setting in ("Type=notify", "NotifyAccess=main", "Restart=on-failure", "WatchdogSec=",
                        "RestartPreventExitStatus=2"):  # a configuration error (exit 2) must not loop
            assert re.search(rf"^{re.escape(setting)}", text, re.MULTILINE), (name, setting)
    system = (UNITS / "alttext-system.service").read_text()
    for setting in ("User=alttext", "StateDirectory=alttext", "ReadOnlyPaths=", "ProtectSystem=strict",
                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SystemCallFilter=@system-service"):
        assert setting in system, setting


def test_system_unit_sandbox_rates_ok_or_better(tmp_path: Path) -> None:
    unit = _installed("alttext-system.service", tmp_path)
    result = _analyze("security", "--offline=yes", str(unit), tmp_path=tmp_path)
    if "offline" in result.stderr and result.returncode != 0:
        pytest.skip(f"this systemd-analyze has no --offline (systemd 250+): {result.stderr.strip()}")
    match = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure, rating = float(match.group(1)), match.group(2)
    assert rating in GOOD_RATINGS, f"exposure {exposure} rated {rating}"
    assert exposure <= 4.9
