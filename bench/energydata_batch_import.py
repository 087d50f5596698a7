"""Benchmark: ``wattbridge import`` of an EnergyData CSV into the sandbox, until done,
beside a baseline measured in the same run.

The baseline is the platform's own example code (its batch_upload.py and
EnergyDataImport.py): csv.reader, datetime.strptime per row, a csv.writer row per
line, then the upload lifecycle (create, upload URL, PUT, validate, poll, ingest,
poll) with the same polling schedule as ours. One change was needed for it to be
accepted at all: its TIMESTAMP_FORMAT writes microseconds (6 digits), which the
documented YYYY-MM-DDTHH:mm:ss.SSSZ refuses, so it is cut to milliseconds.

Each side runs in a process of its own (so its peak memory, ru_maxrss, is its own)
against a sandbox process of its own (``wattbridge sandbox energydata``).

    python bench/energydata_batch_import.py               # 1,000,000 rows, 3 datastreams
    python bench/energydata_batch_import.py --rows 100000 # a quick run
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

STREAMS = ["1205191", "1205192", "117218"]  # three double datastreams of the sandbox
START = datetime(2020, 1, 1, tzinfo=UTC)


def generate(path: Path, rows: int) -> None:
    """An EnergyData CSV: header ;id;id;id, one row a second, three doubles."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(";" + ";".join(STREAMS) + "\r\n")
        lines = []
        for n in range(rows):
            moment = START + timedelta(seconds=n)
            stamp = f"{moment:%Y-%m-%dT%H:%M:%S}.{n % 1000:03d}Z"
            lines.append(f"{stamp};{n * 0.001:.3f};{1000 + n % 500}.5;{-n / 7:.6f}\r\n")
            if len(lines) == 50_000:
                out.write("".join(lines))
                lines = []
        out.write("".join(lines))


def start_sandbox(state_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    """A sandbox process; returns it, its URL and its write token."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "wattbridge", "--log-level", "warning", "sandbox", "energydata",
         "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    url = token = ""
    while not (url and token):
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox did not start")
        if line.startswith("energydata: "):
            url = line.split(": ", 1)[1].strip()
        if "token write:" in line:
            token = line.split(": ", 1)[1].strip()
    return proc, url, token


# -- the two sides (each run in its own process) --------------------------------------


def config_text(url: str, import_size: int) -> str:
    """The config of the energydata-batch sink ``edk`` (token from $BENCH_TOKEN)."""
    return f"""
[wattbridge]
state_dir = "state"
[sinks.edk]
plugin = "energydata-batch"
url = "{url}"
token = {{env = "BENCH_TOKEN"}}
datastreams = {{ {", ".join(f'"{s}" = "double"' for s in STREAMS)} }}
import_size = {import_size}
poll_initial = "100ms"
poll_max = "1s"
"""


def run_ours(csv_path: Path, url: str, token: str, work: Path, import_size: int) -> None:
    """``wattbridge import`` through the real command-line code path, in this process."""
    from wattbridge._cli import main

    config = work / "bench.toml"
    config.write_text(config_text(url, import_size), encoding="utf-8")
    os.environ["BENCH_TOKEN"] = token
    code = main(["import", str(csv_path), "--sink", "edk", "-c", str(config), "--no-progress"])
    if code != 0:
        raise SystemExit(f"wattbridge import failed with exit code {code}")


def run_baseline(csv_path: Path, url: str, token: str, work: Path) -> None:
    """The platform's example code's approach; see the module doc."""
    import requests

    api = url + "/api/v1/import"
    headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
    local = work / "baseline.csv"
    with local.open("w", newline="") as fd, csv_path.open(encoding="utf-8") as f:
        writer = csv.writer(
            fd, quoting=csv.QUOTE_NONNUMERIC, delimiter=";", quotechar='"',
            escapechar="\\", doublequote=False,
        )  # fmt: skip
        writer.writerow(["", *STREAMS])
        reader = csv.reader(f, delimiter=";")
        next(reader)
        previous = None
        for row in reader:
            if not row or len(row) < len(STREAMS) + 1:
                continue
            raw_ts = datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            utc_ts = raw_ts.replace(tzinfo=UTC)  # pytz.utc.localize
            values = [float(row[i + 1]) for i in range(len(row) - 1)]
            if previous is not None and utc_ts <= previous:
                raise ValueError("Added timestamps must be strictly increasing.")
            previous = utc_ts
            stamp = utc_ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            writer.writerow([stamp[:-4] + "Z", *values])  # the one fix: milliseconds
    res = requests.post(api, headers=headers, params={"importname": "baseline"}, timeout=600)
    res.raise_for_status()
    import_id = res.json()["id"]
    res = requests.get(f"{api}/{import_id}/upload_url", headers=headers, timeout=600)
    upload_url = res.json()["upload_url"].replace("\\", "")
    with local.open("rb") as f:
        res = requests.put(upload_url, data=f, timeout=600,
                           headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    res.raise_for_status()
    for step, waiting, goal in (
        ("validate", "validating", "ready"),
        ("ingest", "ingesting", "done"),
    ):
        res = requests.put(f"{api}/{import_id}/{step}", headers=headers, json={}, timeout=600)
        res.raise_for_status()
        delay = 0.1  # the same schedule as ours: 100 ms doubling up to 1 s
        while True:
            time.sleep(delay)
            delay = min(1.0, delay * 2)
            status = requests.get(f"{api}/{import_id}", headers=headers, timeout=600).json()
            if status["status"] == goal:
                break
            if status["status"] != waiting:
                raise SystemExit(f"baseline import failed: {status}")


def child(args: argparse.Namespace) -> None:
    """Run one side and print its time and peak memory as JSON."""
    work = Path(args.work)
    started = time.perf_counter()
    if args.side == "ours":
        run_ours(Path(args.csv), args.url, args.token, work, args.import_size)
    else:
        run_baseline(Path(args.csv), args.url, args.token, work)
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_kb / 1024}))


def measure(side: str, csv_path: Path, work: Path, import_size: int) -> dict[str, Any]:
    """Run ``side`` in a fresh process against a fresh sandbox."""
    work.mkdir(parents=True, exist_ok=True)
    sandbox, url, token = start_sandbox(work / "sandbox")
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", side, "--csv", str(csv_path), "--url", url,
             "--token", token, "--work", str(work), "--import-size", str(import_size)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{side} failed:\n{exc.stderr[-3000:]}") from None
    finally:
        sandbox.terminate()
        sandbox.wait(30)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--import-size", type=int, default=100_000, help="readings per import")
    parser.add_argument("--child", dest="side", choices=["ours", "baseline"])
    parser.add_argument("--csv")
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--work")
    args = parser.parse_args()
    if args.side:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="edk-bench-") as tmp:
        root = Path(tmp)
        csv_path = root / "history.csv"
        generate(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        readings = args.rows * len(STREAMS)
        print(f"{args.rows:,} rows x {len(STREAMS)} datastreams = {readings:,} readings "
              f"({size_mb:.0f} MB)", flush=True)  # fmt: skip
        base = measure("baseline", csv_path, root / "baseline", args.import_size)
        ours = measure("ours", csv_path, root / "ours", args.import_size)
    for name, result in (("baseline (the platform's example code)", base),
                         ("wattbridge import", ours)):  # fmt: skip
        rate = readings / result["seconds"]
        print(f"{name:40s} {result['seconds']:8.1f} s  {rate:12,.0f} readings/s  "
              f"peak {result['peak_mb']:6.0f} MB")  # fmt: skip
    print(f"ratio (ours / baseline, readings/s): {base['seconds'] / ours['seconds']:.2f}x")


if __name__ == "__main__":
    main()
