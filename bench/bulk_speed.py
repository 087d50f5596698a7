"""Benchmark (issue 17): bulk speed against the platform's own example client, in CPU
seconds, for one or more file sizes.

The file: an EnergyData CSV, one row a second, three double datastreams (the same
generator as bench/energydata_batch_import.py). Three sides, each a process of its own
whose CPU time (user + system) and peak memory (ru_maxrss) are read with ``os.wait4``
when it ends, so nothing else on the machine is counted:

- baseline: the local half of EnergyData.dk's example client, run as published (the
  documentation's ``EnergyDataImport`` class from
  tests/plugins/sinks/energydata/seed_clients/, driven by ``batch_upload.py``'s loop:
  csv.reader, datetime.strptime, pytz, ``float`` per value, one csv.writer row per line)
  until its import file is written and closed. Its upload is not counted: the
  platform's work, not the client's.
- ``wattbridge import`` of the file into an energydata-batch sink, until the sandbox
  says ``done`` for every import. The sandbox runs in another process: its work is
  not counted.
- the csv-folder watch-folder into the jsonl sink (``wattbridge run``), from start
  until the file is in done/ and every reading is in the jsonl file.

A ratio is the baseline's CPU seconds over the side's (above 1: faster than the
example client). The issue's targets: import 3x, watch-folder 1.5x, peak memory under
150 MB at each size, time linear in rows (the readings per CPU second per size).

    python bench/bulk_speed.py                               # 1,000,000 rows x 3
    python bench/bulk_speed.py --rows 100000 1000000 10000000
    python bench/bulk_speed.py --only import folder --profile /tmp/spy --rows 100000
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from csv_folder_throughput import CONFIG as FOLDER_CONFIG
from energydata_batch_import import STREAMS, config_text, generate, start_sandbox

ROOT = Path(__file__).resolve().parent.parent
SEED_CLIENT = ROOT / "tests" / "plugins" / "sinks" / "energydata" / "seed_clients"
SIDES = ("baseline", "import", "folder")


@dataclass
class Usage:
    """What one side's process used."""

    cpu_seconds: float
    peak_mb: float


def run_measured(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Usage:
    """Run ``argv`` to its end; its own CPU seconds and peak memory (Linux: KiB)."""
    log = (cwd / "log.txt").open("ab")
    process = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=log, env=env)
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    if process.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed with exit code {process.returncode}:\n{tail_of(cwd)}")
    return Usage(usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def profiled(argv: list[str], profile: str | None) -> list[str]:
    """``argv`` under py-spy (it samples every thread, as cProfile does not) if asked;
    py-spy writes collapsed stacks to ``profile``. Its CPU figures are then not ours."""
    if not profile:
        return argv
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    return [spy, "record", "--format", "raw", "--rate", "200", "--nonblocking", "--output",
            profile, "--", *argv]  # fmt: skip


def print_profile(path: str, top: int = 15) -> None:
    """The functions that py-spy's samples in ``path`` were in most (self time), idle
    waits left out, as shares of the busy samples."""
    if not Path(path).exists():
        print(f"  (no profile written to {path})")
        return
    counts: dict[str, int] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        stack, _, number = line.rpartition(" ")
        leaf = re.sub(r":\d+\)$", ")", stack.rsplit(";", 1)[-1])
        counts[leaf] = counts.get(leaf, 0) + int(number)
    idle = ("wait (threading", "select (", "sleep (", "_wait_for_tstate_lock", "acquire")
    busy = {k: v for k, v in counts.items() if not any(mark in k for mark in idle)}
    total = sum(busy.values()) or 1
    for leaf, number in sorted(busy.items(), key=lambda item: -item[1])[:top]:
        print(f"    {100 * number / total:5.1f}%  {leaf}")


# -- the baseline: the platform's example client, its local half ---------------------


def baseline_child(csv_path: Path, work: Path) -> None:
    """Run in a child process: batch_upload.py's loop into EnergyDataImport's writer."""
    from datetime import datetime

    import pytz  # the example client's own dependency

    spec = importlib.util.spec_from_file_location(
        "EnergyDataImport", SEED_CLIENT / "EnergyDataImport.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with module.EnergyDataImport(
        upload_filename="baseline.csv",
        properties=STREAMS,
        energydata_api_token="not used: the upload is not measured",
        overwrite=True,
        tmp_dir=str(work),
        autoclean_tmp_files=False,
    ) as batch:
        with csv_path.open(encoding="utf-8") as f:
            reader = csv.reader(f, delimiter=";")
            next(reader)
            for row in reader:
                if not row or len(row) < (len(STREAMS) + 1):
                    continue
                raw_ts = datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%S.%fZ")
                utc_ts = pytz.utc.localize(raw_ts)
                values = [float(row[i + 1]) for i in range(len(row) - 1)]
                batch.add_values(utc_ts, values)
        batch.fd.close()  # what upload() does first: the import file is complete
        if batch.added_lines != rows_of(csv_path):
            raise SystemExit(f"baseline wrote {batch.added_lines} rows")


def rows_of(csv_path: Path) -> int:
    """Data rows of a generated file (its lines but the header)."""
    with csv_path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


# -- wattbridge import -----------------------------------------------------------------


def measure_import(csv_path: Path, work: Path, import_size: int, profile: str | None) -> Usage:
    """``wattbridge import`` to ``done``, against a sandbox in a process of its own."""
    work.mkdir(parents=True)
    sandbox, url, token = start_sandbox(work / "sandbox")
    try:
        (work / "bench.toml").write_text(config_text(url, import_size), encoding="utf-8")
        argv = [sys.executable, "-m", "wattbridge", "--log-level", "warning", "import",
                str(csv_path), "--sink", "edk", "-c", "bench.toml", "--no-progress"]  # fmt: skip
        env = {**os.environ, "BENCH_TOKEN": token}
        return run_measured(profiled(argv, profile), work, env)
    finally:
        sandbox.terminate()
        sandbox.wait(60)


# -- the watch-folder into jsonl -------------------------------------------------------


def measure_folder(csv_path: Path, work: Path, rows: int, profile: str | None) -> Usage:
    """``wattbridge run`` with the file already in the inbox: from start until the file
    is in done/ and every reading is in out.jsonl, then SIGINT (a clean stop)."""
    (work / "inbox").mkdir(parents=True)
    (work / "wattbridge.toml").write_text(FOLDER_CONFIG, encoding="utf-8")
    os.link(csv_path, work / "inbox" / csv_path.name)  # the same bytes, no copy
    argv = [sys.executable, "-m", "wattbridge", "run", "-c", "wattbridge.toml"]
    expected = rows * len(STREAMS)
    log = (work / "log.txt").open("ab")
    process = subprocess.Popen(
        profiled(argv, profile), cwd=work, stdout=log, stderr=log, start_new_session=True
    )
    out = work / "out.jsonl"
    delivered = 0
    seen = 0
    # Not --until-idle: under load the source may take longer than any idle time to
    # emit its first reading. Lines are counted as they come (this process's time is
    # not measured).
    deadline = time.monotonic() + 3 * 3600
    while not (delivered >= expected and (work / "inbox" / "done" / csv_path.name).exists()):
        if process.poll() is not None:
            raise SystemExit(f"wattbridge run ended early:\n{tail_of(work)}")
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"timed out with {delivered:,} of {expected:,} readings")
        time.sleep(0.2)
        if out.exists():
            with out.open("rb") as handle:
                handle.seek(seen)
                block = handle.read()
            seen += len(block)
            delivered += block.count(b"\n")
    # SIGINT to the group: wattbridge stops cleanly on it, and py-spy (if profiling)
    # writes its stacks.
    os.killpg(process.pid, signal.SIGINT)
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    if delivered != expected:
        raise SystemExit(f"out.jsonl holds {delivered:,} readings, not {expected:,}")
    return Usage(usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def tail_of(work: Path) -> str:
    """The end of a side's log."""
    return (work / "log.txt").read_text(encoding="utf-8", errors="replace")[-3000:]


# -- the table -------------------------------------------------------------------------


def measure_size(rows: int, args: argparse.Namespace, root: Path) -> dict[str, Usage]:
    """Every chosen side on a file of ``rows`` rows."""
    folder = root / f"rows-{rows}"
    folder.mkdir()
    csv_path = folder / "history.csv"
    generate(csv_path, rows)
    results: dict[str, Usage] = {}
    for side in args.only or SIDES:
        work = folder / side
        wanted = args.profile and side != "baseline"  # the baseline is not ours to profile
        profile = f"{args.profile}.{side}.{rows}" if wanted else None
        if side == "baseline":
            work.mkdir()
            argv = [sys.executable, __file__, "--baseline-child", str(csv_path), str(work)]
            results[side] = run_measured(argv, work)
        elif side == "import":
            results[side] = measure_import(csv_path, work, args.import_size, profile)
        else:
            results[side] = measure_folder(csv_path, work, rows, profile)
        used = results[side]
        if profile:
            print(f"  profile of {side} at {rows:,} rows (self time, busy samples):")
            print_profile(profile)
        print(f"  {rows:>10,} rows  {side:8s} {used.cpu_seconds:8.2f} CPU s  "
              f"peak {used.peak_mb:5.0f} MB", flush=True)  # fmt: skip
    return results


def main() -> None:
    """Measure, then print the table of ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--import-size", type=int, default=100_000, help="readings per import")
    parser.add_argument("--only", nargs="+", choices=SIDES, help="measure only these sides")
    parser.add_argument(
        "--profile", help="py-spy the wattbridge sides (collapsed stacks) to PATH.<side>.<rows>"
    )
    parser.add_argument(
        "--baseline-child", nargs=2, metavar=("CSV", "WORK"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.baseline_child:
        baseline_child(Path(args.baseline_child[0]), Path(args.baseline_child[1]))
        return
    table: dict[int, dict[str, Usage]] = {}
    with tempfile.TemporaryDirectory(prefix="bulk-speed-") as tmp:
        for rows in args.rows:
            table[rows] = measure_size(rows, args, Path(tmp))
    print()
    print(f"{'rows x 3':>12s} {'side':9s} {'CPU s':>8s} {'readings/CPU s':>15s} "
          f"{'peak MB':>8s} {'x baseline':>10s}")  # fmt: skip
    for rows, results in table.items():
        base = results.get("baseline")
        for side, used in results.items():
            rate = rows * len(STREAMS) / used.cpu_seconds
            ratio = f"{base.cpu_seconds / used.cpu_seconds:9.2f}x" if base else "-"
            print(f"{rows:12,} {side:9s} {used.cpu_seconds:8.2f} {rate:15,.0f} "
                  f"{used.peak_mb:8.0f} {ratio:>10s}")  # fmt: skip
    print("targets: import >= 3x, folder >= 1.5x the baseline; peak < 150 MB at every size")


if __name__ == "__main__":
    main()
