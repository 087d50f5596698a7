"""The ``wattbridge`` command line. Exit codes are in :mod:`wattbridge._exitcodes`.

Plugins add sub-commands through ``wattbridge_register_commands``; they are parsed and
run exactly as the built-in ones below.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from wattbridge import __version__, exitcodes
from wattbridge._collector import tune_collector
from wattbridge._config import Config, ConfigError, load_config
from wattbridge._configpath import (
    CONFIG_ENV,
    SYSTEM_CONFIG,
    LocalView,
    LocalViewError,
    find_config,
    read_local_view,
    searched,
)
from wattbridge._durations import parse_duration
from wattbridge._errors import CommandFailed, PluginError
from wattbridge._health import assess
from wattbridge._logs import setup_logging
from wattbridge._opensink import open_sink, outbox_path
from wattbridge._outbox import Outbox, OutboxDamaged, OutboxStatus
from wattbridge._outboxcli import (
    OUTBOX_HELP,
    add_outbox_arguments,
    read_outbox_status,
    run_outbox_command,
)
from wattbridge._plugins import DISABLE_PLUGINS_ENV, Registry, disabled_from_env, load_plugins
from wattbridge._reload import Service
from wattbridge._runtime import stats_path
from wattbridge._signals import stop_signals
from wattbridge._sourcehealth import health_rows, source_health
from wattbridge._stats import load_stats

log = logging.getLogger("wattbridge._cli")

DEFAULT_CONFIG = "wattbridge.toml"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """The ``-c FILE`` option every command that reads a config takes."""
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        type=Path,
        help=f"the TOML config (default: ${CONFIG_ENV}, ./{DEFAULT_CONFIG}, {SYSTEM_CONFIG})",
    )


def config_path(args: argparse.Namespace) -> Path:
    """The config a command reads (``-c``, ``$WATTBRIDGE_CONFIG``, ``./wattbridge.toml``,
    ``/etc/wattbridge/wattbridge.toml``); none there ends the command (exit 3)."""
    path = find_config(args.config)
    if not path.exists():
        raise CommandFailed(f"no config found; looked at {searched(args.config)}", exitcodes.CONFIG)
    return path


def read_config(args: argparse.Namespace) -> Config:
    """Load the config (see :func:`config_path`) with ``args.registry``; a mistake ends
    the command (exit 3)."""
    path = config_path(args)
    args.config = path
    try:
        config = load_config(path, args.registry)
    except ConfigError as exc:
        raise CommandFailed(str(exc), exitcodes.CONFIG) from None
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config


def read_local(args: argparse.Namespace) -> LocalView:
    """The config's state folder and sink names only (no plugin keys, no secrets): for
    commands that read local files, so they run where the sinks' secrets are not set."""
    path = config_path(args)
    try:
        return read_local_view(path)
    except LocalViewError as exc:
        raise CommandFailed(str(exc), exitcodes.CONFIG) from None


def open_outbox(config: Config | LocalView, sink: str) -> Outbox:
    """The outbox of ``sink`` named in ``config``; a missing one ends the command (exit 5)."""
    if sink not in config.sinks:
        raise CommandFailed(
            f"no sink named {sink!r} in {config.path} (sinks: {', '.join(config.sinks)})",
            exitcodes.NOT_FOUND,
        )
    path = outbox_path(config.state_dir, sink)
    if not path.exists():
        raise CommandFailed(f"sink {sink!r} has no outbox yet ({path})", exitcodes.NOT_FOUND)
    try:
        return Outbox.open_existing(path)
    except OutboxDamaged as exc:
        raise CommandFailed(
            f"{exc}; run `wattbridge outbox recover {sink}` to salvage it", exitcodes.FAILURE
        ) from None


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


# -- built-in commands ---------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    config = read_config(args)

    def configure_logging(config: Config) -> None:
        setup_logging(
            args.log_level or config.settings.log_level,
            args.log_format or config.settings.log_format,
            log=config.settings.log,
        )

    def load() -> Config:
        return load_config(args.config, args.registry)

    configure_logging(config)
    try:
        Service(config, args.registry, load, on_config=configure_logging).run(args.until_idle)
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
    rows += [
        {"kind": "BROKEN", "type": b.value, "plugin": b.name, "version": b.error}
        for b in registry.broken
    ]
    rows += [
        {"kind": "disabled", "type": "", "plugin": name, "version": ""}
        for name in registry.disabled
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return exitcodes.OK
    _table(["kind", "type", "plugin", "version"], [list(r.values()) for r in rows])
    return exitcodes.OK


def cmd_status(args: argparse.Namespace) -> int:
    config = read_local(args)
    report: dict[str, Any] = {"sinks": {}, "runtime": load_stats(stats_path(config.state_dir))}
    for name in config.sinks:
        path = outbox_path(config.state_dir, name)
        if not path.exists():
            report["sinks"][name] = None
            continue
        report["sinks"][name] = read_outbox_status(path, name)
    health = assess(report["sinks"], report["runtime"])
    if args.json:
        sinks = {
            k: attrs.asdict(v) if isinstance(v, OutboxStatus) else v
            for k, v in report["sinks"].items()
        }
        verdict = {"level": health.level.name.lower(), "reasons": list(health.reasons)}
        sources = {
            name: {**attrs.asdict(source), "healthy": source.healthy}
            for name, source in source_health(config.sources, report["runtime"]).items()
        }
        document = {
            "sinks": sinks,
            "sources": sources,
            "runtime": report["runtime"],
            "health": verdict,
        }
        print(json.dumps(document, indent=2))
        return int(health.level)
    rows = []
    for name, status in report["sinks"].items():
        if status is None:
            rows.append([name, "-", "-", "-", "-", "never ran", "-"])
            continue
        if not isinstance(status, OutboxStatus):
            rows.append([name, "-", "-", "-", "-", f"DAMAGED {status['damaged']}", "-"])
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
    if config.sources:
        print()
        _table(
            ["source", "state", "readings", "counters", "last error"],
            health_rows(source_health(config.sources, report["runtime"])),
        )
    counters = report["runtime"].get("counters", {})
    notable = {k: v for k, v in counters.items() if k.startswith("sink.") or k.startswith("bus.")}
    for key, value in sorted(notable.items()):
        print(f"{key}: {value}")
    for key, error in sorted(report["runtime"].get("errors", {}).items()):
        if key.startswith("source."):
            continue  # in the sources' table
        print(f"{key} last error at {_when(error.get('at'))}: {error.get('message')}")
    print(f"health: {health.level.name.lower()}")
    for reason in health.reasons:
        print(f"  {reason}")
    return int(health.level)


def cmd_deadletter(args: argparse.Namespace) -> int:
    if args.action == "purge":
        return purge_dead_letters(args)
    # list reads local files only; replay assigns credentials, so it needs the sink built.
    config: Config | LocalView = read_config(args) if args.action == "replay" else read_local(args)
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
                assert isinstance(config, Config)
                moved = replay_dead_letters(config, sink, args.ids or None)
                print(f"{sink}: {moved} dead letter(s) queued again")
                total += moved
        finally:
            outbox.close()
    if args.action == "list" and not args.json:
        print(f"{total} dead letter(s)", file=sys.stderr)
    return exitcodes.OK


def purge_dead_letters(args: argparse.Namespace) -> int:
    """``deadletter purge SINK --older-than 30d``: delete dead letters that failed longer
    ago than that; only local files are read."""
    if not args.sink or not args.older_than:
        raise CommandFailed("purge needs a sink and --older-than (e.g. 30d)", exitcodes.USAGE)
    try:
        age = parse_duration(args.older_than)
    except (ValueError, TypeError) as exc:
        raise CommandFailed(f"--older-than: {exc}", exitcodes.USAGE) from None
    outbox = open_outbox(read_local(args), args.sink)
    try:
        purged = outbox.purge_dead_letters(time.time() - age.total_seconds())
    finally:
        outbox.close()
    print(f"{args.sink}: {purged} dead letter(s) older than {args.older_than} deleted")
    return exitcodes.OK


def cmd_test(args: argparse.Namespace) -> int:
    from wattbridge._dryrun import DryRun

    config = read_config(args)
    show = args.show or None
    failures = DryRun(config, args.registry, sys.stdout, seconds=args.seconds, show=show).run()
    return exitcodes.FAILURE if failures else exitcodes.OK


def cmd_outbox(args: argparse.Namespace) -> int:
    return run_outbox_command(args, read_config(args))


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
    # SIGTERM too (systemd, a test, `kill`), from before the first server starts:
    # without it the process died without stopping its servers, and the MQTT door's
    # Mosquitto ran on as an orphan.
    stop = threading.Event()
    with stop_signals(stop):
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
            while not stop.wait(1):
                pass
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
    parser.add_argument(
        "--disable-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help=f"do not load this installed plugin (repeat for several; or ${DISABLE_PLUGINS_ENV})",
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
    dead.add_argument("action", choices=["list", "replay", "purge"])
    dead.add_argument("purge_sink", nargs="?", metavar="SINK", help="purge: the sink")
    dead.add_argument("--sink", help="only this sink (default: all)")
    dead.add_argument(
        "--older-than", metavar="AGE", help="purge: dead letters that failed longer ago (30d)"
    )
    dead.add_argument("--ids", type=int, nargs="*", help="replay: only these dead letters")
    dead.add_argument("--limit", type=int, default=None, help="list: at most this many")
    dead.add_argument("--json", action="store_true", help="list: JSON lines")
    test = add(
        "test",
        cmd_test,
        "dry run: read each source once and print the readings and the exact payloads each "
        "sink would send; nothing is sent, no outbox is written",
    )
    test.add_argument(
        "--seconds",
        type=float,
        default=5.0,
        help="how long to wait for a pushed source's first readings (default 5)",
    )
    test.add_argument(
        "--show",
        type=int,
        default=20,
        metavar="N",
        help="readings shown per source and payloads per sink (default 20; 0: all)",
    )
    add_outbox_arguments(add("outbox", cmd_outbox, OUTBOX_HELP))
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
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        registry = load_plugins(disable=disabled_from_env() | _disabled_in(argv))
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.PLUGIN
    for broken in registry.broken:
        print(
            f"warning: plugin {broken.name!r} ({broken.value}) is broken and was skipped: "
            f"{broken.error} (skip it with --disable-plugin {broken.name})",
            file=sys.stderr,
        )
    parser = build_parser(registry)
    args = parser.parse_args(argv)
    args.registry = registry
    tune_collector()  # after start-up: what it made is frozen
    if getattr(args, "purge_sink", None):
        args.sink = args.sink or args.purge_sink
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


def _disabled_in(argv: Sequence[str]) -> set[str]:
    """The ``--disable-plugin`` names, read before parsing: the parser is built from the
    plugins, so which to load must be known first."""
    names = set()
    for index, arg in enumerate(argv):
        if arg == "--disable-plugin" and index + 1 < len(argv):
            names.add(argv[index + 1])
        elif arg.startswith("--disable-plugin="):
            names.add(arg.split("=", 1)[1])
    return names


if __name__ == "__main__":
    sys.exit(main())
