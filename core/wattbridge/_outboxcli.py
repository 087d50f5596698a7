"""The outbox commands: ``status``'s read of one outbox (a damaged one reported, not
raised) and ``wattbridge outbox recover SINK``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from wattbridge import _exitcodes as exitcodes
from wattbridge._config import Config
from wattbridge._errors import CommandFailed
from wattbridge._opensink import outbox_path
from wattbridge._outbox import Outbox, OutboxDamaged, OutboxStatus
from wattbridge._salvage import Salvaged, move_aside, salvage
from wattbridge._statelock import StateFolderInUse, lock_state_dir


def read_outbox_status(path: Path, sink: str) -> OutboxStatus | dict[str, Any]:
    """The status of the outbox at ``path``, or ``{"damaged": why}`` when SQLite cannot
    read it (with the command that salvages it)."""
    try:
        outbox = Outbox.open_existing(path)
    except OutboxDamaged as exc:
        return {"damaged": f"{exc}; run `wattbridge outbox recover {sink}`"}
    try:
        return outbox.status()
    finally:
        outbox.close()


def recover(config: Config, sink: str, source: Path | None) -> Salvaged:
    """Salvage sink ``sink``'s outbox: without ``source``, its own file is moved aside
    and what can be read of it goes into a fresh outbox at its path; with ``source`` (a
    copy saved when the outbox was deleted), what can be read of that file is added to
    the outbox. Holds the state folder's lock: never while ``wattbridge run`` runs."""
    if sink not in config.sinks:
        raise CommandFailed(
            f"no sink named {sink!r} in {config.path} (sinks: {', '.join(config.sinks)})",
            exitcodes.NOT_FOUND,
        )
    path = outbox_path(config.state_dir, sink)
    if source is None and not path.exists():
        raise CommandFailed(f"sink {sink!r} has no outbox ({path})", exitcodes.NOT_FOUND)
    if source is not None and not source.exists():
        raise CommandFailed(f"no such file: {source}", exitcodes.NOT_FOUND)
    try:
        lock = lock_state_dir(config.state_dir)
    except StateFolderInUse as exc:
        raise CommandFailed(str(exc), exitcodes.FAILURE) from None
    try:
        kept_aside = None
        if source is None:
            source = kept_aside = move_aside(path)
        outbox = Outbox(path)
        try:
            fresh = kept_aside is not None
            result = salvage(source, outbox, fresh=fresh)
        finally:
            outbox.close()
    finally:
        lock.release()
    return Salvaged(
        result.queued, result.dead_letters, result.states, result.unreadable, kept_aside
    )


def run_outbox_command(args: argparse.Namespace, config: Config) -> int:
    """``wattbridge outbox recover SINK [--from FILE]``."""
    result = recover(config, args.sink, args.source)
    print(
        f"{args.sink}: salvaged {result.queued} queued reading(s), "
        f"{result.dead_letters} dead letter(s), {result.states} state value(s)"
    )
    if result.kept_aside is not None:
        print(f"the damaged file is kept in {result.kept_aside}")
    for what in result.unreadable:
        print(f"unreadable: {what}", file=sys.stderr)
    return exitcodes.FAILURE if result.unreadable else exitcodes.OK


OUTBOX_HELP = "salvage a damaged outbox into a fresh one (the damaged file is kept aside)"


def add_outbox_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``wattbridge outbox``."""
    parser.add_argument("action", choices=["recover"])
    parser.add_argument("sink", help="the sink whose outbox to recover")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="add what can be read of this file (an outbox saved when it was deleted)",
    )
