"""The ``wattbridge`` command line. Exit codes are in :mod:`wattbridge._exitcodes`.

Plugins add sub-commands through ``wattbridge_register_commands``; they are parsed and
run exactly as the built-in ones below.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from wattbridge import __version__, exitcodes
from wattbridge._config import Config, ConfigError, load_config
from wattbridge._errors import CommandFailed, PluginError
from wattbridge._logs import setup_logging
from wattbridge._opensink import open_sink, outbox_path
from wattbridge._outbox import Outbox
from wattbridge._plugins import Registry, load_plugins
from wattbridge._runtime import Runtime, stats_path
from wattbridge._stats import load_stats

log = logging.getLogger("wattbridge._cli")

DEFAULT_CONFIG = "wattbridge.toml"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """The ``-c FILE`` option every command that reads a config takes."""
    parser.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        type=Path,
        help=f"the TOML config (default: {DEFAULT_CONFIG})",
    )


def read_config(args: argparse.Namespace) -> Config:
    """Load ``args.config`` with ``args.registry``; a mistake ends the command (exit 3)."""
    try:
        config = load_config(args.config, args.registry)
    except ConfigError as exc:
        raise CommandFailed(str(exc), exitcodes.CONFIG) from None
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config


def open_outbox(config: Config, sink: str) -> Outbox:
    """The outbox of ``sink`` named in ``config``; a missing one ends the command (exit 5)."""
    if sink not in config.sinks:
        raise CommandFailed(
            f"no sink named {sink!r} in {config.path} (sinks: {', '.join(config.sinks)})",
            exitcodes.NOT_FOUND,
        )
    path = outbox_path(config.state_dir, sink)
    if not path.exists():
        raise CommandFailed(f"sink {sink!r} has no outbox yet ({path})", exitcodes.NOT_FOUND)
    return Outbox.open_existing(path)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


# -- built-in commands ---------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    config = read_config(args)
    setup_logging(
        args.log_level or config.settings.log_level, args.log_format or config.settings.log_format
    )
    try:
        runtime = Runtime(config, args.registry)
        runtime.run_forever(until_idle=args.until_idle)
    except Exception as exc:
        # Logged, not raised: with --log-format json this is a JSON line like the rest.
        log.error("wattbridge stopped: %s: %s", type(exc).__name__, exc)
        log.debug("details", exc_info=True)
        return exitcodes.FAILURE
    return exitcodes.OK


def cmd_check(args: argparse.Namespace) -> int:
    config = read_config(args)
    print(
        f"{config.path}: ok ({len(config.sources)} source(s), {len(config.sinks)} sink(s), "
        f"{len(config.routes)} route(s))"
    )
    return exitcodes.OK


def cmd_plugins(args: argparse.Namespace) -> int:
    registry: Registry = args.registry
    rows = [
        {"kind": kind, "type": t.name, "plugin": t.plugin, "version": t.version}
        for kind, table in (("source", registry.sources), ("sink", registry.sinks))
        for t in sorted(table.values(), key=lambda t: t.name)
    ]
    rows += [
        {"kind": "sandbox", "type": s.name, "plugin": s.plugin, "version": ""}
        for s in registry.sandboxes.values()
    ]
    rows += [
        {"kind": "command", "type": c.name, "plugin": c.plugin, "version": ""}
        for c in registry.commands.values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return exitcodes.OK
    _table(["kind", "type", "plugin", "version"], [list(r.values()) for r in rows])
    return exitcodes.OK


def cmd_status(args: argparse.Namespace) -> int:
    config = read_config(args)
    report: dict[str, Any] = {"sinks": {}, "runtime": load_stats(stats_path(config.state_dir))}
    for name in config.sinks:
        path = outbox_path(config.state_dir, name)
        if not path.exists():
            report["sinks"][name] = None
            continue
        outbox = Outbox.open_existing(path)
        try:
            report["sinks"][name] = outbox.status()
        finally:
            outbox.close()
    if args.json:
        sinks = {k: attrs.asdict(v) if v else None for k, v in report["sinks"].items()}
        print(json.dumps({"sinks": sinks, "runtime": report["runtime"]}, indent=2))
        return exitcodes.OK
    rows = []
    for name, status in report["sinks"].items():
        if status is None:
            rows.append([name, "-", "-", "-", "-", "never ran", "-"])
            continue
        error = (status.halted and f"HALTED {status.halted}") or status.last_error or "-"
        rows.append(
            [
                name,
                str(status.depth),
                status.oldest_reading or "-",
                _when(status.last_success),
                str(status.dead_letters),
                error[:80],
                str(status.sent_total),
            ]
        )
    _table(
        ["sink", "queued", "oldest queued reading", "last success", "dead", "last error", "sent"],
        rows,
    )
    counters = report["runtime"].get("counters", {})
    notable = {k: v for k, v in counters.items() if not k.endswith(".readings")}
    for key, value in sorted(notable.items()):
        print(f"{key}: {value}")
    for key, error in sorted(report["runtime"].get("errors", {}).items()):
        print(f"{key} last error at {_when(error.get('at'))}: {error.get('message')}")
    return exitcodes.OK


def cmd_deadletter(args: argparse.Namespace) -> int:
    config = read_config(args)
    sinks = [args.sink] if args.sink else list(config.sinks)
    total = 0
    for sink in sinks:
        if not outbox_path(config.state_dir, sink).exists() and not args.sink:
            continue
        outbox = open_outbox(config, sink)
        try:
            if args.action == "list":
                letters = outbox.dead_letters(limit=args.limit)
                for letter in letters:
                    r = letter.reading
                    if args.json:
                        print(
                            json.dumps(
                                {
                                    "sink": sink,
                                    "id": letter.id,
                                    "reason": letter.reason,
                                    "failed_at": letter.failed_at,
                                    **r.to_dict(),
                                }
                            )
                        )
                    else:
                        print(
                            f"{sink}\t{letter.id}\t{r.stream}\t{r.timestamp.isoformat()}\t"
                            f"{r.value!r}\t{letter.reason}"
                        )
                total += len(letters)
            else:
                moved = replay_dead_letters(config, sink, args.ids or None)
                print(f"{sink}: {moved} dead letter(s) queued again")
                total += moved
        finally:
            outbox.close()
    if args.action == "list" and not args.json:
        print(f"{total} dead letter(s)", file=sys.stderr)
    return exitcodes.OK


def replay_dead_letters(config: Config, sink: str, ids: list[int] | None) -> int:
    """Queue dead letters again, with credentials assigned by the sink as now configured."""
    with open_sink(config, sink, open=False) as opened:  # built, not opened: no I/O
        return opened.replay(ids)


def cmd_sandbox(args: argparse.Namespace) -> int:
    registry: Registry = args.registry
    names = args.names or sorted(registry.sandboxes)
    if not names:
        print("no installed plugin provides a sandbox", file=sys.stderr)
        return exitcodes.NOT_FOUND
    unknown = [n for n in names if n not in registry.sandboxes]
    if unknown:
        raise CommandFailed(
            f"no sandbox named {', '.join(unknown)} (have: {', '.join(registry.sandboxes)})",
            exitcodes.NOT_FOUND,
        )
    setup_logging(args.log_level or "info", args.log_format or "text")
    running = []
    try:
        for offset, name in enumerate(names):
            port = args.port + offset if args.port else 0
            state_dir = args.state_dir / name
            state_dir.mkdir(parents=True, exist_ok=True)
            try:
                server = registry.sandboxes[name].start(args.host, port, state_dir)
            except RuntimeError as exc:  # a program it needs is missing: the hint says which
                if args.names:
                    raise CommandFailed(f"sandbox {name}: {exc}", exitcodes.FAILURE) from None
                print(f"{name}: not started: {exc}", file=sys.stderr)
                continue
            running.append(server)
            print(f"{name}: {server.url}")
            ca_file = getattr(server, "ca_file", None)
            if ca_file is not None:
                print(f"  CA certificate (trust it, e.g. ca_file): {ca_file}")
            for label, token in getattr(server, "tokens", {}).items():
                print(f"  token {label}: {token}")
        sys.stdout.flush()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for server in running:
            server.stop()
    return exitcodes.OK


# -- the parser ----------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, box=None, pad_edge=False)
    for row in rows:
        table.add_row(*row)
    Console(width=200 if not sys.stdout.isatty() else None).print(table)


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    """The argument parser with the built-in commands and every plugin's commands."""
    parser = argparse.ArgumentParser(
        prog="wattbridge", description="Move energy readings to the platforms that store them."
    )
    parser.add_argument("--version", action="version", version=f"wattbridge {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=None,
        help="overrides the config's log_level",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=None,
        help="json: one JSON object a line",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, run: Callable[[argparse.Namespace], int], help: str, config: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        if config:
            add_config_argument(sub)
        sub.set_defaults(run=run)
        return sub

    run = add("run", cmd_run, "run the sources and sinks of a config until SIGINT or SIGTERM")
    run.add_argument(
        "--until-idle",
        type=float,
        nargs="?",
        const=3.0,
        default=None,
        metavar="SECONDS",
        help="stop once every outbox is empty and nothing was queued for SECONDS "
        "(default 3): for one-shot imports and demos",
    )
    add("check", cmd_check, "check a config and report every mistake")
    plugins = add(
        "plugins", cmd_plugins, "list source and sink types and their plugins", config=False
    )
    plugins.add_argument("--json", action="store_true")
    status = add("status", cmd_status, "queue depth, oldest reading, errors, dead letters")
    status.add_argument("--json", action="store_true")
    dead = add("deadletter", cmd_deadletter, "list or replay readings the platform refused")
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("--sink", help="only this sink (default: all)")
    dead.add_argument("--ids", type=int, nargs="*", help="replay: only these dead letters")
    dead.add_argument("--limit", type=int, default=None, help="list: at most this many")
    dead.add_argument("--json", action="store_true", help="list: JSON lines")
    sandbox = add("sandbox", cmd_sandbox, "run the local imitation of each platform", config=False)
    sandbox.add_argument("names", nargs="*", help="which sandboxes (default: all)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=0, help="first port (default: free ports)")
    sandbox.add_argument("--state-dir", type=Path, default=Path("sandbox-state"))
    for command in registry.commands.values():
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wattbridge`` command; returns the exit code."""
    try:
        registry = load_plugins()
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.PLUGIN
    parser = build_parser(registry)
    args = parser.parse_args(argv)
    args.registry = registry
    if args.command not in ("run", "sandbox"):
        setup_logging(args.log_level or "warning", args.log_format or "text")
    try:
        code: int = args.run(args)
    except CommandFailed as exc:
        print(f"error: {exc}" if exc.code != exitcodes.CONFIG else str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
