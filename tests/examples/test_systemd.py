"""The systemd files in examples/systemd/ as systemd itself reads them:
``systemd-analyze verify`` for the unit, ``systemd-sysusers`` and ``systemd-tmpfiles``
applied to a throw-away root; and the config beside them is valid."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from wattbridge._config import load_config

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "examples" / "systemd"
HINT = "systemd's tools are missing: apt-get install systemd (.ci/run does)"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name}: {HINT}")
    return found


def test_the_unit_verifies(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this install's command
    # (the only change; the unit names /usr/local/bin, where pipx puts it on a server).
    command = Path(sys.executable).with_name("wattbridge")
    assert command.exists(), command
    text = (FOLDER / "wattbridge.service").read_text(encoding="utf-8")
    assert "ExecStart=/usr/local/bin/wattbridge run\n" in text
    unit = tmp_path / "wattbridge.service"
    unit.write_text(text.replace("/usr/local/bin/wattbridge", str(command)), encoding="utf-8")
    result = subprocess.run(
        [tool("systemd-analyze"), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Only what concerns this unit counts: the host's own units may have warnings.
    ours = [line for line in result.stderr.splitlines() if "wattbridge" in line]
    assert result.returncode == 0 and not ours, result.stderr


def test_sysusers_and_tmpfiles_make_the_user_and_folders(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    subprocess.run(
        [tool("systemd-sysusers"), f"--root={root}", str(FOLDER / "wattbridge.sysusers")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    passwd = (root / "etc" / "passwd").read_text(encoding="utf-8")
    entry = next(line for line in passwd.splitlines() if line.startswith("wattbridge:"))
    fields = entry.split(":")
    assert fields[5] == "/var/lib/wattbridge"
    assert int(fields[2]) < 1000  # a system user
    subprocess.run(
        [
            tool("systemd-tmpfiles"),
            f"--root={root}",
            "--create",
            str(FOLDER / "wattbridge.tmpfiles"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    for folder, owner in (
        ("etc/wattbridge", 0),
        ("var/lib/wattbridge", int(fields[2])),
        ("var/log/wattbridge", int(fields[2])),
    ):
        info = (root / folder).stat()
        assert stat.S_IMODE(info.st_mode) == 0o750, folder
        if os.geteuid() == 0:  # only root can give files away
            assert info.st_uid == owner, folder
            assert info.st_gid == int(fields[3]), folder


def test_the_servers_config_is_valid(
    wattbridge_registry: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDK_TOKEN", "test-value")
    config = load_config(FOLDER / "wattbridge.toml", wattbridge_registry)  # type: ignore[arg-type]
    assert config.settings.http is not None
    assert config.settings.http.listen == "127.0.0.1:9464"
    assert str(config.state_dir) == "/var/lib/wattbridge"
