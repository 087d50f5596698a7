"""End to end: a file dropped into the inbox ends up on EnergyData.dk (its sandbox, over
real HTTP), through the energydata-batch sink, as the example in examples/watch-folder
does."""

from __future__ import annotations

import csv as csvmodule
import io
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from wattbridge.testing import wait_until

SEED_EXAMPLE = """;117217;my/topic;119221
2021-03-10T20:24:30.139Z;a_string;23.4121;-10
2021-03-10T20:24:31.144Z;"another string";999888777.121;0
2021-03-10T20:24:32.161Z;a third string;-1.33e-16;45
2021-03-10T20:24:33.186Z;;54.1;11
2021-03-10T20:24:34.201Z;a-fourth-string;;45
"""


def fetch(sandbox: Any) -> list[list[str]]:
    response = requests.get(
        f"{sandbox.url}/api/v1/datastreams/values",
        headers={
            "Authorization": f"Bearer {sandbox.tokens['read']}",
            "Accept": "application/json",
        },
        params={
            "ids": "117217,my/topic,119221",
            "from": "2021-03-10T00:00:00.000Z",
            "to": "2021-03-11T00:00:00.000Z",
        },
        timeout=10,
    )
    response.raise_for_status()
    return list(csvmodule.reader(io.StringIO(response.text), delimiter=";"))


def test_a_dropped_file_arrives_in_the_energydata_sandbox(
    wattbridge_runtime, wattbridge_sandbox, tmp_path, monkeypatch, csv
):
    sandbox = wattbridge_sandbox("energydata")
    monkeypatch.setenv("EDK_TOKEN", sandbox.tokens["write"])
    inbox = tmp_path / "inbox"
    wattbridge_runtime(
        f"""
[sources.folder]
plugin = "csv-folder"
inbox = "{inbox}"
format = "energydata"
strings = ["117217"]
settle = "0.05s"
finished_after = "0.2s"
scan_interval = "0.02s"

[sinks.edk]
plugin = "energydata-batch"
url = "{sandbox.url}"
token = {{env = "EDK_TOKEN"}}
datastreams = {{"117217" = "string", "my/topic" = "double", "119221" = "integer"}}
poll_initial = "10ms"
poll_max = "100ms"
flush_interval = "0.1s"

[[routes]]
from = "folder"
to = "edk"
"""
    )
    wait_until(inbox.exists)
    csv.write(inbox / "seed.csv", SEED_EXAMPLE)
    csv.wait_for_path(inbox / "done" / "seed.csv")
    expected = [
        ["2021-03-10T20:24:30.139Z", "a_string", "23.4121", "-10"],
        ["2021-03-10T20:24:31.144Z", "another string", "999888777.121", "0"],
        ["2021-03-10T20:24:32.161Z", "a third string", "-1.33e-16", "45"],
        ["2021-03-10T20:24:33.186Z", "", "54.1", "11"],
        ["2021-03-10T20:24:34.201Z", "a-fourth-string", "", "45"],
    ]
    seen: list[list[list[str]]] = []

    def arrived() -> bool:
        seen.append(fetch(sandbox)[1:])
        return seen[-1] == expected

    wait_until(arrived, timeout=30, message="the rows of the seed example in the sandbox")


EXAMPLE = Path(__file__).parents[4] / "examples" / "watch-folder"


def test_the_watch_folder_example_delivers_its_sample_to_the_sandbox(
    wattbridge_runtime, wattbridge_sandbox, tmp_path, monkeypatch, csv
):
    """examples/watch-folder as a user runs it, with the sandbox's URL put in."""
    sandbox = wattbridge_sandbox("energydata")
    monkeypatch.setenv("EDK_TOKEN", sandbox.tokens["write"])
    text = (EXAMPLE / "wattbridge.toml").read_text(encoding="utf-8")
    assert 'url = "http://127.0.0.1:8765"' in text
    text = text.replace('url = "http://127.0.0.1:8765"', f'url = "{sandbox.url}"')
    text = text.replace('flush_interval = "5s"', 'flush_interval = "0.1s"')
    assert 'finished_after = "10s"' in text
    text = text.replace('finished_after = "10s"', 'finished_after = "1s"')
    wattbridge_runtime(text)
    inbox = tmp_path / "inbox"
    wait_until(inbox.exists)
    sample = EXAMPLE / "sample-data" / "eloverblik-2026-01.csv"
    shutil.copy(sample, inbox / ".copying")
    (inbox / ".copying").rename(inbox / sample.name)
    csv.wait_for_path(inbox / "done" / sample.name)

    # What the file says, read here without the plugin: January is UTC+1 in Denmark.
    expected = []
    for line in sample.read_text(encoding="utf-8-sig").splitlines()[1:]:
        stamp, kwh, watts = line.split(";")
        local = datetime.strptime(stamp, "%d-%m-%Y %H:%M")
        utc = (local - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        expected.append(
            [utc, str(float(kwh.replace(",", "."))), str(float(watts.replace(".", "")))]
        )
    assert len(expected) == 48

    def arrived() -> bool:
        response = requests.get(
            f"{sandbox.url}/api/v1/datastreams/values",
            headers={"Authorization": f"Bearer {sandbox.tokens['read']}"},
            params={
                "ids": "house/import_kwh,house/power_w",
                "from": "2025-12-31T00:00:00.000Z",
                "to": "2026-01-03T00:00:00.000Z",
            },
            timeout=10,
        )
        rows = list(csvmodule.reader(io.StringIO(response.text), delimiter=";"))[1:]
        got = [[ts, str(float(kwh)), str(float(w))] for ts, kwh, w in rows if kwh and w]
        return got == expected

    wait_until(arrived, timeout=30, message="the sample's 48 hours in the sandbox")


ELOVERBLIK = EXAMPLE / "eloverblik"


def test_the_october_day_from_eloverblik_arrives_as_25_distinct_hours(
    wattbridge_sandbox, tmp_path, csv
):
    """examples/watch-folder/eloverblik as a user runs it: `wattbridge run --until-idle`
    in a process of its own, the sample (26 October 2025, 25 rows, 02:00 twice) dropped
    into its inbox; the process delivers all of it before it stops, and the sandbox
    holds 25 distinct UTC hours with the file's values in the file's order."""
    sandbox = wattbridge_sandbox("energydata")
    text = (ELOVERBLIK / "wattbridge.toml").read_text(encoding="utf-8")
    for old, new in [
        ('url = "http://127.0.0.1:8765"', f'url = "{sandbox.url}"'),
        ('flush_interval = "5s"', 'flush_interval = "0.2s"'),
        ('finished_after = "10s"', 'finished_after = "1s"'),
    ]:
        assert old in text
        text = text.replace(old, new)
    config = tmp_path / "wattbridge.toml"
    config.write_text(text, encoding="utf-8")
    sample = ELOVERBLIK / "sample-data" / "eloverblik-2025-10-26.csv"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(sample, inbox / ".copying")
    (inbox / ".copying").rename(inbox / sample.name)
    process = subprocess.run(
        [sys.executable, "-m", "wattbridge", "run", "-c", str(config), "--until-idle", "1"],
        cwd=tmp_path,
        env={**os.environ, "EDK_TOKEN": sandbox.tokens["write"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert (inbox / "done" / sample.name).exists(), process.stderr[-3000:]

    # What the file says, read here without the plugin: the local day starts at 22:00
    # UTC the day before (summer time) and has 25 hours; the values in the file's order.
    values = [
        str(float(line.split(";")[3].replace(",", ".")))
        for line in sample.read_text(encoding="utf-8").splitlines()[1:]
    ]
    start = datetime(2025, 10, 25, 22)
    expected = [
        [(start + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%S.000Z"), value]
        for n, value in enumerate(values)
    ]
    assert len(expected) == 25
    response = requests.get(
        f"{sandbox.url}/api/v1/datastreams/values",
        headers={"Authorization": f"Bearer {sandbox.tokens['read']}"},
        params={
            "ids": "house/import_kwh",
            "from": "2025-10-25T00:00:00.000Z",
            "to": "2025-10-28T00:00:00.000Z",
        },
        timeout=10,
    )
    rows = list(csvmodule.reader(io.StringIO(response.text), delimiter=";"))[1:]
    assert [[stamp, str(float(value))] for stamp, value in rows] == expected
