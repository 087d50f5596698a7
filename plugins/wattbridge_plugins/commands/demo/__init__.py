"""``wattbridge demo``: the watch-folder to EnergyData.dk pipeline against the sandbox."""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from wattbridge import exitcodes, hookimpl
from wattbridge.commands import Runtime, load_config, setup_logging

SAMPLE = Path(__file__).with_name("sample.toml")
DATASTREAMS = {"1205191": "house/import_kwh", "1205192": "house/power_w"}
DAY = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 96  # a day of 15-minute readings


def meter_export() -> str:
    """A day of a house's meter readings in EnergyData's import format."""
    lines = [";" + ";".join(DATASTREAMS)]
    energy = 15000.0
    for n in range(ROWS):
        power = round(450 + 350 * math.sin(n / ROWS * 2 * math.pi - 1.2) ** 2, 1)
        energy = round(energy + power / 4000, 3)
        stamp = (DAY + n * timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        lines.append(f"{stamp};{energy};{power}")
    return "\r\n".join(lines) + "\r\n"


def write_config(folder: Path, url: str, token: str) -> Path:
    """The sample config, pointed at the sandbox, with the token in a private file."""
    token_file = folder / "edk-token"
    token_file.write_text(token, encoding="utf-8")
    token_file.chmod(0o600)
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace('url = "https://admin.energydata.dk"', f'url = "{url}"')
    text = text.replace('token = {env = "EDK_TOKEN"}', 'token = {file = "edk-token"}')
    config = folder / "wattbridge.toml"
    config.write_text(text, encoding="utf-8")
    return config


def fetch_stored(url: str, token: str) -> dict[str, int]:
    """How many values each demo datastream holds, read back through the fetch API."""
    response = requests.get(
        f"{url}/api/v1/datastreams/values",
        params={
            "ids": ",".join(DATASTREAMS),
            "from": DAY.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "to": (DAY + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        },
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    rows = list(csv.reader(io.StringIO(response.text), delimiter=";"))
    header = rows[0][1:]
    return {name: sum(1 for row in rows[1:] if row[i + 1] != "") for i, name in enumerate(header)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dir``: where the demo's config, inbox and state go."""
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("wattbridge-demo"),
        help="folder for the demo (default: ./wattbridge-demo)",
    )


def run(args: argparse.Namespace) -> int:
    """Start the sandbox, write the config and a file, run until idle, show the result."""
    registry = args.registry
    for needed in ("csv-folder",):
        if needed not in registry.sources:
            print(f"error: the demo needs the {needed!r} source plugin", file=sys.stderr)
            return exitcodes.PLUGIN
    if "energydata" not in registry.sandboxes or "energydata-batch" not in registry.sinks:
        print("error: the demo needs the energydata-batch sink and its sandbox", file=sys.stderr)
        return exitcodes.PLUGIN
    setup_logging(args.log_level or "info", args.log_format or "text")
    log = logging.getLogger("wattbridge.demo")
    folder: Path = args.dir.resolve()
    (folder / "inbox").mkdir(parents=True, exist_ok=True)
    sandbox = registry.sandboxes["energydata"].start("127.0.0.1", 0, folder / "sandbox")
    try:
        config_path = write_config(folder, sandbox.url, sandbox.tokens["write"])
        export = folder / "inbox" / "meter-2026-01-01.csv"
        staging = export.with_suffix(".part")  # written, then renamed: never read half-way
        staging.write_text(meter_export(), encoding="utf-8")
        os.replace(staging, export)
        log.info("sandbox at %s; dropped %s (%d rows)", sandbox.url, export.name, ROWS)
        runtime = Runtime(load_config(config_path, registry), registry)
        runtime.run_forever(until_idle=3.0)
        stored = fetch_stored(sandbox.url, sandbox.tokens["read"])
    finally:
        sandbox.stop()
    return report(folder, config_path, stored, print)


def report(folder: Path, config: Path, stored: dict[str, int], say: Callable[[str], None]) -> int:
    """Print what the platform stored and where everything is; exit 0 if all arrived."""
    say("")
    for ds, topic in DATASTREAMS.items():
        say(f"  datastream {ds} ({topic}): {stored.get(ds, 0)} of {ROWS} values stored")
    done = sorted(p.name for p in (folder / "inbox" / "done").glob("*.csv"))
    say(f"  inbox/done/: {', '.join(done) or 'nothing'}")
    say(f"\nconfig: {config}\nstatus: wattbridge status -c {config}")
    complete = all(stored.get(ds) == ROWS for ds in DATASTREAMS)
    say("every row arrived" if complete else "NOT every row arrived: see the log above")
    return exitcodes.OK if complete else exitcodes.FAILURE


@hookimpl
def wattbridge_register_commands(register: Callable[..., None]) -> None:
    """Register ``wattbridge demo``."""
    register(
        "demo",
        add_arguments,
        run,
        "run the watch-folder to EnergyData.dk pipeline against the local sandbox",
    )


__all__ = ["meter_export", "run"]
