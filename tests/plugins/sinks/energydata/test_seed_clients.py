"""EnergyData.dk's own example clients, run unchanged but for their settings, against
the sandbox (and the file the platform's client writes, through ``wattbridge import``).

The clients are in ``seed_clients/`` as the platform's documentation prints them (see
README.md there). A test copies them, replaces only the lines the documentation tells
a user to fill in (and the API host), and runs them as a user would: ``python
batch_upload.py``. If the sandbox reads the platform's format stricter than the
platform's own client writes it, these fail.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from wattbridge._cli import main
from wattbridge_plugins.common.energydata_csv import parse_timestamp

SEED_CLIENTS = Path(__file__).parent / "seed_clients"


def fill_in(path: Path, settings: dict[str, str]) -> None:
    """Replace the line starting with each setting's name by ``name = value``; each
    must match exactly one line, so a changed client fails here, not later."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for name, value in settings.items():
        hits = [n for n, line in enumerate(lines) if line.strip().startswith(f"{name} = ")]
        assert len(hits) == 1, f"{path.name}: {name} is set on lines {hits}, expected one"
        indent = lines[hits[0]][: len(lines[hits[0]]) - len(lines[hits[0]].lstrip())]
        lines[hits[0]] = f"{indent}{name} = {value}\n"
    path.write_text("".join(lines), encoding="utf-8")


def seed_client(tmp_path: Path, sandbox: Any, csv_file: Path, ids: list[str]) -> Path:
    """The platform's batch-upload client in ``tmp_path/client``, set up for ``sandbox``."""
    folder = tmp_path / "client"
    folder.mkdir()
    for name in ("EnergyDataImport.py", "batch_upload.py"):
        (folder / name).write_bytes((SEED_CLIENTS / name).read_bytes())
    fill_in(folder / "EnergyDataImport.py", {"API_HOST": repr(f"{sandbox.url}/api/v1/import")})
    fill_in(
        folder / "batch_upload.py",
        {
            "CSV_FILE_PATH": repr(str(csv_file)),
            "AUTH_TOKEN": repr(sandbox.tokens["write"]),
            "DATASTREAM_IDS": repr(ids),
        },
    )
    return folder


def fetch(sandbox: Any, ids: str, start: str, end: str) -> list[list[str]]:
    """The fetch API's CSV for ``ids`` between ``start`` and ``end``, as rows."""
    answer = requests.get(
        f"{sandbox.url}/api/v1/datastreams/values",
        params={"ids": ids, "from": start, "to": end},
        headers={"Accept": "application/json", "Authorization": f"Bearer {sandbox.tokens['read']}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return list(csv.reader(answer.text.splitlines(), delimiter=";"))


def test_the_platforms_batch_upload_client_completes_against_the_sandbox(
    tmp_path: Path, wattbridge_sandbox: Any
) -> None:
    sandbox = wattbridge_sandbox("energydata")
    # The input batch_upload.py reads: a metadata line, then timestamp;value;value
    # (it parses %f, so microseconds, and writes them back with %f: six digits).
    readings = tmp_path / "readings.csv"
    readings.write_text(
        "exported from the meter\n"
        "2021-03-10T20:24:30.139512Z;12.5;230\n"
        "2021-03-10T20:24:31.144000Z;12.75;-1.5e-3\n"
        "2021-03-10T20:24:32.000999Z;13;0\n",
        encoding="utf-8",
    )
    folder = seed_client(tmp_path, sandbox, readings, ["1205191", "1205192"])
    done = subprocess.run(
        [sys.executable, "batch_upload.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validated 3/3 lines" in done.stdout, done.stdout
    assert "Ingested 3/3 lines" in done.stdout, done.stdout
    assert "******Data uploaded successfully******" in done.stdout, done.stdout
    rows = fetch(sandbox, "1205191,1205192", "2021-03-10T20:24:30Z", "2021-03-10T20:24:33Z")
    # Below a millisecond is dropped, never rounded into the next one.
    by_time = {row[0]: row[1:] for row in rows[1:]}
    assert sorted(by_time) == [
        "2021-03-10T20:24:30.139Z",
        "2021-03-10T20:24:31.144Z",
        "2021-03-10T20:24:32.000Z",
    ], rows
    assert [float(v) for v in by_time["2021-03-10T20:24:31.144Z"]] == [12.75, -0.0015]
    assert [float(v) for v in by_time["2021-03-10T20:24:32.000Z"]] == [13.0, 0.0]


def test_the_file_the_platforms_client_writes_goes_through_wattbridge_import(
    tmp_path: Path, wattbridge_sandbox: Any, monkeypatch: Any
) -> None:
    sandbox = wattbridge_sandbox("energydata")
    # The client's own class writes the file (quoted header and timestamps, six
    # fractional digits, None as ""); kept instead of uploaded.
    monkeypatch.syspath_prepend(str(SEED_CLIENTS))
    from datetime import datetime

    from EnergyDataImport import EnergyDataImport
    from pytz import utc

    properties = ["house/import_kwh", "house/phase_count", "house/note"]
    with EnergyDataImport(
        "client.csv", properties, "unused", tmp_dir=str(tmp_path), autoclean_tmp_files=False
    ) as batch:
        batch.add_values(utc.localize(datetime(2024, 1, 1, 0, 0, 0, 250_500)), [1.5, 3, "ok"])
        batch.add_values(utc.localize(datetime(2024, 1, 1, 0, 15)), [None, 2, 'say "hi"'])
        batch.add_values(utc.localize(datetime(2024, 1, 1, 0, 30)), [2.25, None, None])
        batch.fd.close()
    written = (tmp_path / "client.csv").read_text(encoding="utf-8")
    assert written.startswith('"";"house/import_kwh";'), written
    assert '"2024-01-01T00:00:00.250500Z";1.5;3;"ok"' in written, written
    config = tmp_path / "wattbridge.toml"
    config.write_text(
        f"""
[wattbridge]
state_dir = "state"

[sinks.edk]
plugin = "energydata-batch"
url = "{sandbox.url}"
token = {{env = "EDK_TOKEN"}}
poll_initial = "20ms"
poll_max = "100ms"

[sinks.edk.datastreams]
"house/import_kwh" = "double"
"house/phase_count" = "integer"
"house/note" = "string"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("EDK_TOKEN", sandbox.tokens["write"])
    args = ["import", str(tmp_path / "client.csv"), "--sink", "edk", "-c", str(config)]
    assert main([*args, "--no-progress"]) == 1  # the client writes 'say \"hi\"', not RFC 4180
    fixed = written.replace('\\"', '""')
    (tmp_path / "client.csv").write_text(fixed, encoding="utf-8")
    assert main([*args, "--no-progress"]) == 0
    stored = sandbox.stored()
    t0 = parse_timestamp("2024-01-01T00:00:00.250Z")
    t1, t2 = t0 - 250 + 15 * 60_000, t0 - 250 + 30 * 60_000
    assert stored == {
        (1205191, t0): 1.5,
        (1205193, t0): 3,
        (1205194, t0): "ok",
        (1205193, t1): 2,
        (1205194, t1): 'say "hi"',
        (1205191, t2): 2.25,
        (1205194, t2): "",
    }
