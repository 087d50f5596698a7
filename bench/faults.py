"""Fault injection: does every reading arrive, once in effect, whatever breaks?

    python bench/faults.py [--scenarios sigkill,broker,sandbox,diskfull] [--readings N]
                           [--quick]

Each scenario runs real ``wattbridge run`` processes against real peers, breaks
something on purpose mid-stream, lets it recover, and counts what reached the far end:

- ``sigkill``: a replay source into the jsonl sink; the process is SIGKILLed three
  times mid-stream and started again.
- ``broker``: a replay source into the energydata-mqtt sink and a private Mosquitto;
  the broker is stopped for a few seconds mid-stream, then started again. A QoS 1
  subscriber with a persistent session counts what the broker delivered.
- ``sandbox``: a replay source into the energinet sink and its sandbox (short windows,
  loopback); the sandbox answers 429 for a while, then 500 twice, then hangs one
  request past the sink's timeout and trickles one answer a byte at a time.
- ``diskfull``: as ``broker``, with the state folder on a small tmpfs (mount -t tmpfs;
  needs root): every reading is queued while the broker is down, the disk is filled,
  the broker started (messages go out but their acks cannot be recorded), and the disk
  freed a few seconds later.

For each: readings sent (made by the source), arrived (distinct readings at the far
end), lost (sent but never arrived) and duplicated (arrivals beyond the first of a
reading: at-least-once delivery repeats what was in flight; the platforms keep one
value per time, so a repeat is harmless, a flood is not). It prints a table (rich) and
exits non-zero if any reading was lost. Each scenario is bounded (about a minute;
``--quick``: fewer readings and shorter outages, for a test).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
from rich.console import Console
from rich.table import Table

from wattbridge.testing import (
    Mosquitto,
    SmallDisk,
    jsonl_records,
    start_wattbridge,
    stop_wattbridge,
)
from wattbridge_plugins.common.mqtt_subscriber import Subscriber
from wattbridge_plugins.sinks.energinet.sandbox.server import EnerginetSandbox

START = "2026-01-01T00:00:00+00:00"
TOKEN, PASSWORD = "faults-token-7d1e", "faults-password-52ac"
WATCHER, WATCHER_PASSWORD = "faults-watcher", "watcher-password-0b9f"
PREFIX = "faults"


@attrs.frozen
class Outcome:
    """What one scenario counted."""

    scenario: str
    sent: int
    arrived: int
    duplicated: int
    seconds: float
    note: str = ""

    @property
    def lost(self) -> int:
        """Readings sent that never arrived."""
        return self.sent - self.arrived


@attrs.frozen
class Settings:
    """The size of each scenario."""

    readings: int
    rate: int
    outage: float
    """Seconds a broker is down or a disk full."""
    deadline: float
    """Seconds to wait for everything to arrive after the fault."""


# -- running wattbridge -----------------------------------------------------------


def wait_for(predicate: Callable[[], bool], seconds: float, poll: float = 0.2) -> bool:
    """True once ``predicate`` holds; False after ``seconds``."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if predicate():
            return True
        time.sleep(poll)
    return predicate()


def replay_source(settings: Settings, streams: list[str], step: str = "1s") -> str:
    """A replay source table making ``settings.readings`` readings at ``settings.rate``."""
    names = ", ".join(f'"{s}"' for s in streams)
    return (
        f'[sources.gen]\nplugin = "replay"\nrate = {settings.rate}\n'
        f'count = {settings.readings}\nchunk = 50\nstart = "{START}"\n'
        f'step = "{step}"\nstreams = [{names}]\n'
    )


# -- sigkill ------------------------------------------------------------------------


def jsonl_keys(path: Path) -> list[tuple[str, str]]:
    """(stream, timestamp) of every whole line in a jsonl output (a line torn by
    SIGKILL is not a delivery)."""
    return [(data["stream"], data["timestamp"]) for data in jsonl_records(path)]


def sigkill(folder: Path, settings: Settings) -> Outcome:
    """SIGKILL ``wattbridge run`` three times mid-stream; restart; count the jsonl lines."""
    config = folder / "wattbridge.toml"
    out = folder / "out.jsonl"
    config.write_text(
        f'[wattbridge]\nstate_dir = "state"\n{replay_source(settings, ["a", "b", "c"])}'
        '[sinks.out]\nplugin = "jsonl"\npath = "out.jsonl"\nflush_interval = "50ms"\n'
        'batch = 100\n[[routes]]\nfrom = "gen"\nto = "out"\n'
    )
    started = time.monotonic()
    kills = 3
    for kill in range(1, kills + 1):
        process = start_wattbridge(config, log=folder / "wattbridge.log")
        target = settings.readings * kill // (kills + 1)
        wait_for(lambda n=target: len(jsonl_keys(out)) >= n, settings.deadline)
        process.send_signal(signal.SIGKILL)
        process.wait()
    process = start_wattbridge(config, log=folder / "wattbridge.log")
    try:
        wait_for(lambda: len(set(jsonl_keys(out))) >= settings.readings, settings.deadline)
    finally:
        stop_wattbridge(process)
    keys = jsonl_keys(out)
    return Outcome(
        "sigkill", settings.readings, len(set(keys)), len(keys) - len(set(keys)),
        time.monotonic() - started, f"{kills} SIGKILLs mid-stream",
    )  # fmt: skip


# -- broker and disk full: energydata-mqtt into Mosquitto -----------------------------


def mqtt_config(folder: Path, settings: Settings, broker: Mosquitto, state_dir: Path) -> Path:
    config = folder / "wattbridge.toml"
    config.write_text(
        f'[wattbridge]\nstate_dir = "{state_dir}"\n{replay_source(settings, ["a", "b"])}'
        f'[sinks.edk]\nplugin = "energydata-mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
        f'tls = false\ntoken = "{TOKEN}"\npassword = "{PASSWORD}"\nprefix = "{PREFIX}"\n'
        'datastreams = ["a", "b"]\nflush_interval = "50ms"\nack_timeout = "2s"\n'
        'connect_timeout = "2s"\nretry_max = "1s"\n'
        '[[routes]]\nfrom = "gen"\nto = "edk"\n'
    )
    return config


@contextlib.contextmanager
def mqtt_peers(folder: Path) -> Iterator[tuple[Mosquitto, Subscriber]]:
    """A persistent Mosquitto and a QoS 1 subscriber to everything under the prefix."""
    broker = Mosquitto(
        folder / "broker", users={TOKEN: PASSWORD, WATCHER: WATCHER_PASSWORD}, persistence=True
    ).start()
    try:
        watcher = Subscriber(broker.port, WATCHER, WATCHER_PASSWORD, topic=f"{PREFIX}/#")
        try:
            yield broker, watcher
        finally:
            watcher.close()
    finally:
        broker.stop()


def mqtt_counts(watcher: Subscriber) -> tuple[int, int]:
    """(distinct readings, duplicates) that reached the subscriber."""
    seen = Counter((suffix, ms) for suffix, ms, _value in watcher.values(PREFIX))
    return len(seen), sum(seen.values()) - len(seen)


def broker(folder: Path, settings: Settings) -> Outcome:
    """Stop Mosquitto mid-stream for ``settings.outage`` seconds, then start it again."""
    started = time.monotonic()
    with mqtt_peers(folder) as (mosquitto, watcher):
        config = mqtt_config(folder, settings, mosquitto, folder / "state")
        process = start_wattbridge(config, log=folder / "wattbridge.log")
        try:
            wait_for(lambda: mqtt_counts(watcher)[0] >= settings.readings // 3, settings.deadline)
            mosquitto.stop()
            time.sleep(settings.outage)
            mosquitto.start()
            wait_for(lambda: mqtt_counts(watcher)[0] >= settings.readings, settings.deadline)
        finally:
            stop_wattbridge(process)
        arrived, duplicated = mqtt_counts(watcher)
    return Outcome(
        "broker", settings.readings, arrived, duplicated, time.monotonic() - started,
        f"Mosquitto stopped {settings.outage:g}s mid-stream",
    )  # fmt: skip


def replayed(state_dir: Path) -> int:
    """How many readings the replay source has queued so far (its progress file)."""
    try:
        progress = json.loads((state_dir / "sources" / "gen" / "progress.json").read_text())
        return int(progress.get("done", 0))
    except (OSError, ValueError):
        return 0


def diskfull(folder: Path, settings: Settings) -> Outcome:
    """Readings queued while the broker is down; then the state folder's 16 MB tmpfs is
    filled, the broker started (sends go out, their acks cannot be recorded), and the
    disk freed ``outage`` seconds later."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return Outcome("diskfull", 0, 0, 0, 0.0, "skipped: mounting a tmpfs needs root")
    disk = SmallDisk(folder / "small-disk", 16 * 2**20)
    started = time.monotonic()
    during = 0
    try:
        with mqtt_peers(folder) as (mosquitto, watcher):
            state = disk.path / "state"
            config = mqtt_config(folder, attrs.evolve(settings, rate=0), mosquitto, state)
            mosquitto.stop()
            process = start_wattbridge(config, log=folder / "wattbridge.log")
            try:
                wait_for(lambda: replayed(state) >= settings.readings, settings.deadline)
                disk.fill()
                before = len(watcher.messages)
                mosquitto.start()
                time.sleep(settings.outage)
                during = len(watcher.messages) - before
                disk.free()
                wait_for(lambda: mqtt_counts(watcher)[0] >= settings.readings, settings.deadline)
            finally:
                stop_wattbridge(process)
            arrived, duplicated = mqtt_counts(watcher)
    finally:
        disk.unmount()
    return Outcome(
        "diskfull", settings.readings, arrived, duplicated, time.monotonic() - started,
        f"16 MB tmpfs full for {settings.outage:g}s with {settings.readings} queued: "
        f"{during} messages meanwhile",
    )  # fmt: skip


# -- sandbox faults: energinet ----------------------------------------------------------


class CountingSandbox:
    """The energinet sandbox, counting every value it was asked to store (repeats too)."""

    def __init__(self, folder: Path) -> None:
        self.sandbox = EnerginetSandbox("127.0.0.1", 0, folder)
        self.offered = 0
        lock = threading.Lock()
        store = self.sandbox.store.store

        def counting(sender: str, meter: str, values: list[tuple[str, float]]) -> None:
            nonlocal lock
            with lock:
                self.offered += len(values)
            store(sender, meter, values)

        self.sandbox.store.store = counting  # type: ignore[method-assign]


def sandbox(folder: Path, settings: Settings) -> Outcome:
    """429, 500, a hang past the timeout and a trickled answer, one after another."""
    counting = CountingSandbox(folder / "sandbox")
    server = counting.sandbox
    server.window = 1.0
    meters = {"m1": "7000000001", "m2": "7000000002"}
    server.add_meters(meters.values())
    token = server.add_sender("bench")
    config = folder / "wattbridge.toml"
    pairs = ", ".join(f'"{s}" = "{m}"' for s, m in meters.items())
    config.write_text(
        f'[wattbridge]\nstate_dir = "state"\n{replay_source(settings, list(meters), "15m")}'
        f'[sinks.en]\nplugin = "energinet"\nurl = "{server.url}"\n'
        'request_interval = "1s"\nrequest_margin = "100ms"\ntimeout = "2s"\n'
        'flush_interval = "100ms"\nretry_max = "1s"\nmax_payload_bytes = 4000\n'
        f'[sinks.en.senders.bench]\ntoken = "{token}"\nmeters = {{ {pairs} }}\n'
        '[[routes]]\nfrom = "gen"\nto = "en"\n'
    )
    config.chmod(0o600)
    started = time.monotonic()
    statuses: Counter[int] = Counter()
    process = start_wattbridge(config, log=folder / "wattbridge.log")
    try:
        wait_for(lambda: server.store.count() >= settings.readings // 5, settings.deadline)
        server.window = 4.0  # the platform's window is longer than ours: 429s
        time.sleep(settings.outage)
        server.window = 1.0
        # One fault after another: a trickle rule meets the first answer written.
        for mode, count, seconds in (("500", 2, 0.0), ("hang", 1, 10.0), ("trickle", 1, 0.5)):
            answered = len(server.requests())
            server.fail_next(count, mode, seconds)
            wait_for(lambda n=answered + count: len(server.requests()) >= n, settings.deadline)
        wait_for(lambda: server.store.count() >= settings.readings, settings.deadline)
    finally:
        stop_wattbridge(process)
        statuses.update(r.status for r in server.requests())
        arrived = server.store.count()
        offered = counting.offered
        server.stop()
    answers = ", ".join(f"{n}x{s}" for s, n in sorted(statuses.items()))
    return Outcome(
        "sandbox", settings.readings, arrived, offered - arrived, time.monotonic() - started,
        f"answers {answers}",
    )  # fmt: skip


SCENARIOS: dict[str, Callable[[Path, Settings], Outcome]] = {
    "sigkill": sigkill,
    "broker": broker,
    "sandbox": sandbox,
    "diskfull": diskfull,
}


def table(outcomes: list[Outcome]) -> Table:
    """The outcomes as a rich table."""
    result = Table(title="wattbridge under faults")
    for column in ("scenario", "sent", "arrived", "lost", "duplicated", "seconds", "fault"):
        result.add_column(column, justify="left" if column in ("scenario", "fault") else "right")
    for o in outcomes:
        lost = f"[red]{o.lost}[/red]" if o.lost else "0"
        result.add_row(
            o.scenario, str(o.sent), str(o.arrived), lost, str(o.duplicated),
            f"{o.seconds:.0f}", o.note,
        )  # fmt: skip
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios, print the table; non-zero if a reading was lost."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, of {', '.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument("--readings", type=int, default=None, help="readings per scenario")
    parser.add_argument("--quick", action="store_true", help="small and short, for a test")
    parser.add_argument("--json", action="store_true", help="also print the outcomes as JSON")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    settings = (
        Settings(readings=600, rate=300, outage=2.0, deadline=40.0)
        if args.quick
        else Settings(readings=6000, rate=1000, outage=5.0, deadline=60.0)
    )
    if args.readings is not None:
        settings = attrs.evolve(settings, readings=args.readings)
    outcomes = []
    console = Console(width=max(120, shutil.get_terminal_size().columns))
    for name in chosen:
        with tempfile.TemporaryDirectory(prefix=f"wattbridge-faults-{name}-") as folder:
            console.print(f"[bold]{name}[/bold] ...")
            outcomes.append(SCENARIOS[name](Path(folder), settings))
    console.print(table(outcomes))
    if args.json:
        print(json.dumps([{**attrs.asdict(o), "lost": o.lost} for o in outcomes]))
    return 1 if any(o.lost for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
