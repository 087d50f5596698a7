"""``wattbridge modbus``: read a device once and print its values, or list the profiles.

For setting up a meter: ``wattbridge modbus read --host 192.168.1.50 --profile
eastron-sdm630 --unit 1`` shows every stream, its value and unit, and the register it
came from, with the error of each register the device refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from wattbridge import parse_duration
from wattbridge_plugins.common.extras import load
from wattbridge_plugins.sources.modbus import profiles
from wattbridge_plugins.sources.modbus.config import ModbusConfig
from wattbridge_plugins.sources.modbus.registers import format_register

HELP = "read a Modbus device once and print its values; list the shipped meter profiles"

OK, FAILURE, USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``read`` and ``profiles`` sub-commands."""
    actions = parser.add_subparsers(dest="modbus_action", metavar="ACTION", required=True)
    read = actions.add_parser("read", help="read a device once and print a table of its values")
    where = read.add_argument_group("where the device is")
    where.add_argument("--host", help="Modbus TCP (or RTU-over-TCP gateway) host")
    where.add_argument("--port", type=int, default=502, help="TCP port (default 502)")
    where.add_argument("--serial", help="serial port for RTU, e.g. /dev/ttyUSB0")
    where.add_argument(
        "--transport", choices=["tcp", "rtu", "rtu-over-tcp"], help="default: from host/serial"
    )
    where.add_argument("--baudrate", type=int, default=9600)
    where.add_argument("--parity", choices=["N", "E", "O"], default="N")
    where.add_argument("--stopbits", type=int, choices=[1, 2], default=1)
    where.add_argument("--bytesize", type=int, choices=[7, 8], default=8)
    what = read.add_argument_group("what to read")
    what.add_argument("--profile", help="a shipped profile (see `wattbridge modbus profiles`)")
    what.add_argument("--profile-file", type=Path, help="or a profile file of your own")
    what.add_argument("--unit", type=int, default=1, help="unit id (default 1)")
    what.add_argument("--timeout", default="1s", help="per request (default 1s)")
    what.add_argument("--retries", type=int, default=1, help="after a timeout (default 1)")
    what.add_argument("--max-gap", type=int, default=None, help="registers a read may span")
    read.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing = actions.add_parser("profiles", help="list the shipped meter profiles")
    listing.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Run ``wattbridge modbus ACTION``; returns the exit code."""
    if args.modbus_action == "profiles":
        return _profiles(args)
    return _read(args)


def _profiles(args: argparse.Namespace) -> int:
    columns = ["profile", "maker", "model", "registers", "manual"]
    rows: list[dict[str, Any]] = []
    for name, path in profiles.shipped().items():
        profile = profiles.load(path)
        values = [name, profile.maker, profile.model, str(len(profile.registers)), profile.manual]
        rows.append({**dict(zip(columns, values, strict=True)), "references": profile.references})
    if args.json:
        print(json.dumps(rows, indent=2))
        return OK
    _print_table(columns, [[row[c] for c in columns] for row in rows])
    return OK


def _read(args: argparse.Namespace) -> int:
    try:
        config = ModbusConfig(
            host=args.host,
            port=args.port,
            serial=args.serial,
            transport=args.transport,
            baudrate=args.baudrate,
            parity=args.parity,
            stopbits=args.stopbits,
            bytesize=args.bytesize,
            profile=args.profile,
            profile_file=args.profile_file.resolve() if args.profile_file else None,
            unit=args.unit,
            timeout=parse_duration(args.timeout),
            retries=args.retries,
            max_gap=args.max_gap,
            name=args.host or args.serial or "device",
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    (plan,) = config.plans
    device = plan.devices[0]
    # pymodbus (the `modbus` extra) only when a device is read: `profiles` needs none.
    poller = load("wattbridge_plugins.sources.modbus.poller", "modbus")
    client = poller.BusClient(plan.link)
    reader = poller.DeviceReader(client, logging.getLogger("wattbridge.modbus.read"), Counter())
    try:
        outcome = reader.poll(poller.DeviceState(device), tries=device.retries + 1)
    finally:
        client.close()
    if not outcome.answered:
        print(f"error: {device.label} on {plan.link.label}: {outcome.error}", file=sys.stderr)
        return FAILURE
    values = {register.stream: value for register, value in outcome.values}
    problems = {register.stream: message for register, message in outcome.problems}
    rows: list[dict[str, Any]] = []
    for register in device.registers:
        rows.append(
            {
                "stream": register.stream,
                "value": values.get(register.stream),
                "unit": register.unit,
                "register": f"{register.kind} {format_register(register.kind, register.address)}",
                "error": problems.get(register.stream, "").split(": ")[-1],
            }
        )
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        _print_table(
            ["stream", "value", "unit", "register", "error"],
            [[str(v) if v is not None else "" for v in row.values()] for row in rows],
        )
        print(
            f"{len(values)} of {len(device.registers)} values from {device.label} on "
            f"{plan.link.label} in {client.requests} request(s)"
        )
    return OK if not problems else FAILURE


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, box=None, pad_edge=False)
    for row in rows:
        table.add_row(*row)
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
