"""``wattbridge import`` and ``wattbridge fetch``.

``import`` queues EnergyData CSV files into a sink's outbox (chunk by chunk, resumable)
and drives that sink's flushes until everything is delivered, with progress bars and
an ETA. ``fetch`` downloads values through the platform's fetch API to a file.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

from wattbridge import DataError, Secret, exitcodes
from wattbridge.commands import CommandFailed, add_config_argument, open_sink, read_config
from wattbridge_plugins.common.energydata_csv import StreamType, format_ms, parse_instant
from wattbridge_plugins.common.tls import tls_from_arguments
from wattbridge_plugins.sinks.energydata.batch.config import EnergyDataBatchConfig
from wattbridge_plugins.sinks.energydata.batch.importer import FileProgress, file_hash, read_chunks
from wattbridge_plugins.sinks.energydata.client import Client, PlatformError

IMPORT_HELP = "queue EnergyData CSV files into a sink and deliver them, resumably"
FETCH_HELP = "download values from EnergyData.dk's fetch API to a CSV file"

log = logging.getLogger("wattbridge.import")


def _progress(disabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=disabled,
        console=None,
    )


# -- import ----------------------------------------------------------------------------


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``wattbridge import``."""
    parser.add_argument("files", nargs="+", type=Path, help="EnergyData CSV files (;<id>;...)")
    add_config_argument(parser)
    parser.add_argument("--sink", required=True, help="the sink (in the config) to import into")
    parser.add_argument(
        "--chunk", type=int, default=20_000, help="rows per outbox transaction (default 20000)"
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="log bad rows and go on (default: stop at one)"
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="only queue; leave delivery to `wattbridge run`",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def column_types(config: Any) -> dict[str, StreamType | None] | None:
    """Each datastream's type, as an EnergyData sink's ``datastreams`` key declares it:
    a table of types (batch, or MQTT's typed form), or a list of names (MQTT: no types,
    so each value's type is read off its text, as for any other sink: None)."""
    datastreams = getattr(config, "datastreams", None)
    if isinstance(datastreams, dict):
        return {name: None if kind == "any" else kind for name, kind in datastreams.items()}
    if isinstance(datastreams, list):
        return dict.fromkeys(datastreams)
    return None


def run_import(args: argparse.Namespace) -> int:
    """``wattbridge import``: see :data:`IMPORT_HELP`."""
    for path in args.files:
        if not path.is_file():
            raise CommandFailed(f"{path}: no such file", exitcodes.NOT_FOUND)
    if args.chunk < 1:
        raise CommandFailed("--chunk must be at least 1", exitcodes.USAGE)
    config = read_config(args)
    target = open_sink(config, args.sink)
    types = column_types(target.config)
    # Queue a few imports ahead while earlier ones validate, but no more: memory and
    # disk stay bounded whatever the file's size.
    ahead = max(3 * target.worker.batch_size, args.chunk * 3)
    bad = 0
    failure: DataError | None = None

    def skip(error: DataError) -> None:
        nonlocal bad
        bad += 1
        log.warning("skipping %s", error)

    try:
        with _progress(args.no_progress) as progress:
            settled_before = target.settled()
            deliver = progress.add_task("delivered", total=target.depth)
            queued = 0
            for path in args.files:
                done = FileProgress(target, file_hash(path), path)
                if done.complete:
                    progress.console.print(f"{path}: already queued earlier; skipped")
                    continue
                task = progress.add_task(f"queue {path.name}", total=path.stat().st_size)

                def count(n: int, task: Any = task) -> None:
                    progress.advance(task, n)

                try:
                    for rows, chunk in read_chunks(
                        path,
                        types,
                        skip_rows=done.rows,
                        chunk_rows=args.chunk,
                        on_bad=skip if args.skip_bad else None,
                        counter=count,
                    ):
                        queued += done.queue(rows, chunk)
                        progress.update(deliver, total=queued + target.depth)
                        if not args.no_wait:
                            target.drain(until_depth=ahead)
                            progress.update(deliver, completed=target.settled() - settled_before)
                except DataError as exc:
                    # What was read before the bad row is queued: deliver it, then stop.
                    failure = exc
                    break
                done.finish()
                progress.update(task, completed=path.stat().st_size)
            total = target.settled() - settled_before + target.depth
            progress.update(deliver, total=total)
            if not args.no_wait:
                while target.depth:
                    target.drain(until_depth=max(0, target.depth - 1))
                    progress.update(deliver, completed=target.settled() - settled_before)
            dead = target.status().dead_letters
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return exitcodes.INTERRUPTED
    finally:
        target.close()
    if failure is not None:
        raise CommandFailed(
            f"{failure}\nthe rows before it are imported; rerun with --skip-bad to go on past "
            "it, or fix the file and rerun (a changed file is imported whole again; the "
            "platform overwrites equal values)",
            exitcodes.FAILURE,
        )
    if bad:
        print(f"{bad} bad row(s) skipped (see the log)", file=sys.stderr)
    if dead:
        print(
            f"{dead} reading(s) refused in total: `wattbridge deadletter list --sink {args.sink}`",
            file=sys.stderr,
        )
    return exitcodes.OK


# -- fetch -------------------------------------------------------------------------------


def add_fetch_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``wattbridge fetch``."""
    parser.add_argument(
        "--ids",
        required=True,
        nargs="+",
        help="datastream ids or topics (space or comma separated)",
    )
    parser.add_argument("--from", dest="start", help="first instant, ISO 8601 with a zone")
    parser.add_argument("--to", dest="end", help="end instant (exclusive), ISO 8601 with a zone")
    parser.add_argument("--latest", action="store_true", help="only each datastream's latest value")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the CSV file to write")
    parser.add_argument(
        "-c", "--config", type=Path, default=None, help="take url and token from this config"
    )
    parser.add_argument("--sink", help="the energydata-batch sink of the config to use")
    parser.add_argument("--url", default="https://admin.energydata.dk")
    parser.add_argument("--token-env", help="environment variable that holds the token")
    parser.add_argument("--ca-file", type=Path, help="CA bundle to check the server against")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--no-progress", action="store_true")


def _fetch_client(args: argparse.Namespace) -> Client:
    if args.sink:
        config = read_config(args)  # no -c: found as every command finds it
        spec = config.sinks.get(args.sink)
        if spec is None or not isinstance(spec.config, EnergyDataBatchConfig):
            raise CommandFailed(
                f"no energydata-batch sink {args.sink!r} in {config.path}", exitcodes.NOT_FOUND
            )
        return Client(spec.config.url, spec.config.token, args.timeout, spec.config)
    if not args.token_env:
        raise CommandFailed("give --sink NAME (with -c) or --token-env VAR", exitcodes.USAGE)
    token = os.environ.get(args.token_env)
    if not token:
        raise CommandFailed(f"environment variable {args.token_env} is not set", exitcodes.USAGE)
    secret = Secret(token, origin=f"env:{args.token_env}")
    return Client(args.url, secret, args.timeout, tls_from_arguments(args))


def run_fetch(args: argparse.Namespace) -> int:
    """``wattbridge fetch``: see :data:`FETCH_HELP`."""
    ids = [i for chunk in args.ids for i in chunk.split(",") if i]
    if args.latest == bool(args.start or args.end):
        raise CommandFailed("give either --latest or both --from and --to", exitcodes.USAGE)
    start = end = None
    if not args.latest:
        if not (args.start and args.end):
            raise CommandFailed("give both --from and --to", exitcodes.USAGE)
        try:
            start = format_ms(parse_instant(args.start))
            end = format_ms(parse_instant(args.end))
        except ValueError as exc:
            raise CommandFailed(str(exc), exitcodes.USAGE) from None
    client = _fetch_client(args)
    target, atomic = output_target(args.output)
    tmp = target.with_name(target.name + ".part") if atomic else target
    written = 0
    try:
        response = client.fetch(ids, start, end)
        length = response.headers.get("Content-Length")
        with _progress(args.no_progress) as progress, tmp.open("wb") as out:
            task = progress.add_task(
                f"fetch {','.join(ids)}", total=int(length) if length else None
            )
            for block in response.iter_content(1 << 16):
                out.write(block)
                written += len(block)
                progress.advance(task, len(block))
        if atomic:
            tmp.replace(target)
    except PlatformError as exc:
        if atomic:
            tmp.unlink(missing_ok=True)
        raise CommandFailed(str(exc), exitcodes.FAILURE) from None
    except OSError as exc:
        if atomic:
            tmp.unlink(missing_ok=True)
        raise CommandFailed(f"fetch failed: {exc}", exitcodes.FAILURE) from None
    finally:
        client.close()
    print(f"{args.output}: {written} bytes", file=sys.stderr)
    return exitcodes.OK


def output_target(output: Path) -> tuple[Path, bool]:
    """Where to write ``-o output`` and whether atomically (a temporary file renamed).

    A regular file (or a new one) is replaced atomically, through any symbolic link to
    it, so the link stays a link; anything else (``/dev/stdout``, a pipe, a device) is
    written in place: renaming over it would replace the device node with a file.
    """
    try:
        mode = output.stat().st_mode  # through links: what would be written to
    except FileNotFoundError:
        mode = stat.S_IFREG  # a new file (or a dangling link's target, made)
    if not stat.S_ISREG(mode):
        # /dev/stdout resolves to names like /proc/N/fd/pipe:[...] that cannot be opened:
        # open the name given, which the kernel follows.
        return output, False
    return Path(os.path.realpath(output)), True
