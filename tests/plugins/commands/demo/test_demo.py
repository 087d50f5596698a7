"""`wattbridge demo`, as a newcomer runs it: every row of the dropped file ends up
stored on the EnergyData sandbox; a second run finds the file a duplicate."""

import subprocess
import sys

from wattbridge_plugins.commands.demo import ROWS, meter_export


def test_demo_delivers_every_row_and_is_idempotent(tmp_path):
    folder = tmp_path / "demo"
    for _run in (1, 2):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "wattbridge",
                "--log-level",
                "warning",
                "demo",
                "--dir",
                str(folder),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"house/import_kwh): {ROWS} of {ROWS} values stored" in proc.stdout
        assert f"house/power_w): {ROWS} of {ROWS} values stored" in proc.stdout
        assert "every row arrived" in proc.stdout
    assert (folder / "inbox" / "done" / "meter-2026-01-01.csv").exists()
    assert (folder / "inbox" / "duplicates" / "meter-2026-01-01.csv").exists()
    assert "imported before" in proc.stderr
    token = (folder / "edk-token").read_text()
    assert token not in proc.stdout + proc.stderr
    assert (folder / "edk-token").stat().st_mode & 0o077 == 0


def test_meter_export_is_in_energydata_format():
    lines = meter_export().split("\r\n")
    assert lines[0] == ";1205191;1205192"
    assert lines[1].startswith("2026-01-01T00:00:00.000Z;")
    assert len([line for line in lines if line]) == ROWS + 1
