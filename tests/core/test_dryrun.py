"""``wattbridge test``: what it prints is what a real run sends, byte for byte (the
messages EnergyData's MQTT door received, the lines a jsonl file got), and it sends
nothing, writes no outbox and acknowledges no input."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from wattbridge._cli import main
from wattbridge._config import load_config
from wattbridge._plugins import load_plugins
from wattbridge._runtime import Runtime
from wattbridge.testing import wait_until
from wattbridge_plugins.common.mqtt_subscriber import Subscriber

PREFIX = "myhouse"

MQTT_CONFIG = """
[wattbridge]
state_dir = "state"

[sources.gen]
plugin = "replay"
streams = ["p", "e", "x"]
count = 9
chunk = 9
rate = 1000
start = "2026-01-01T00:00:00+00:00"

[sinks.edk]
plugin = "energydata-mqtt"
host = "127.0.0.1"
port = {port}
ca_file = "{ca}"
token = {{ env = "EDK_TOKEN" }}
prefix = "{prefix}"
datastreams = ["meter/p", "meter/e"]
flush_interval = "50ms"

[sinks.lines]
plugin = "jsonl"
path = "lines.jsonl"
flush_interval = "50ms"

[[routes]]
from = "gen"
to = "edk"
streams = {{ "p" = "meter/p", "e" = "meter/e", "x" = "meter/x" }}

[[routes]]
from = "gen"
to = "lines"
"""


@pytest.fixture
def door(wattbridge_sandbox: Any) -> Any:
    server = wattbridge_sandbox("energydata-mqtt")
    server.store.add_datastream(9001, f"{PREFIX}/meter/p", "double")
    server.store.add_datastream(9002, f"{PREFIX}/meter/e", "double")
    return server


def previewed(out: str, sink: str) -> list[tuple[str, str]]:
    """The (where, payload) pairs printed under ``sink``."""
    section = (
        out.split(f"sink {sink} (")[1]
        .split("\nsink ", maxsplit=1)[0]
        .split("\nnothing was sent", maxsplit=1)[0]
    )
    pairs: list[tuple[str, str]] = []
    for line in section.splitlines()[1:]:
        if line.startswith("    "):
            where, payload = pairs[-1]
            pairs[-1] = (where, payload + ("\n" if payload else "") + line[4:])
        elif line.startswith("  "):
            pairs.append((line[2:], ""))
    return pairs


def test_the_dry_run_prints_what_a_run_sends(
    tmp_path: Path,
    door: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = door.tokens["write"]
    monkeypatch.setenv("EDK_TOKEN", token)
    path = tmp_path / "wattbridge.toml"
    path.write_text(
        MQTT_CONFIG.format(port=door.port, ca=door.ca_file, prefix=PREFIX), encoding="utf-8"
    )
    subscriber = Subscriber(door.port, door.tokens["read"], topic="#", ca_file=door.ca_file)
    try:
        assert main(["test", "-c", str(path), "--show", "0"]) == 0
        out = capsys.readouterr().out
        # Nothing sent, nothing written.
        assert not (tmp_path / "state").exists() and not (tmp_path / "lines.jsonl").exists()
        assert door.stored() == {}
        assert token not in out
        mqtt = previewed(out, "edk")
        published = [
            (where.removeprefix("publish to ").removesuffix(" (QoS 1)"), payload)
            for where, payload in mqtt
            if where.startswith("publish to ")
        ]
        assert len(published) == 6  # p and e of 9 readings; x is not a datastream
        refused = [(where, why) for where, why in mqtt if where.startswith("not published")]
        assert (
            refused
            == [
                (
                    "not published: meter/x",
                    "datastream 'meter/x' is not in this sink's datastreams; not published "
                    "(the platform disconnects a client for an unknown topic)",
                )
            ]
            * 3
        )
        lines = previewed(out, "lines")
        assert [where for where, _ in lines] == [f"append to {tmp_path / 'lines.jsonl'}"]

        # The real run: the same bytes arrive.
        registry = load_plugins(entry_points=False)
        runtime = Runtime(load_config(path, registry), registry)
        runtime.start()
        try:
            wait_until(lambda: len(subscriber.messages) >= 6, 60, message="6 messages")
            wait_until(lambda: runtime.idle_for() > 0.5, 60, message="outboxes drained")
        finally:
            runtime.stop()
        with subscriber.lock:
            arrived = [(topic, payload.decode()) for topic, payload in subscriber.messages]
        assert sorted(arrived) == sorted(published)
        written = (tmp_path / "lines.jsonl").read_text(encoding="utf-8")
        assert written.splitlines() == lines[0][1].splitlines()
    finally:
        subscriber.close()


CSV_CONFIG = """
[wattbridge]
state_dir = "state"

[sources.exports]
plugin = "csv-folder"
inbox = "inbox"
format = "energydata"
settle = "0s"
scan_interval = "0.1s"

[sinks.lines]
plugin = "jsonl"
path = "lines.jsonl"

[[routes]]
from = "exports"
to = "lines"
"""


def test_a_watch_folder_file_stays_in_the_inbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wattbridge.toml"
    path.write_text(CSV_CONFIG, encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    export = inbox / "meter.csv"
    export.write_text(
        ";house/p\r\n2026-01-01T00:00:00.000Z;1.5\r\n2026-01-01T00:15:00.000Z;2.5\r\n",
        encoding="utf-8",
    )
    assert main(["test", "-c", str(path), "--seconds", "20"]) == 0
    out = capsys.readouterr().out
    assert "source exports (csv-folder, first batch within 20s): 2 reading(s)" in out
    assert re.search(r"2026-01-01T00:15:00\+00:00  house/p = 2\.5", out)
    assert export.exists(), "a dry run moved the file out of the inbox"
    assert not any((inbox / "done").iterdir())
    assert not (tmp_path / "state").exists() and not (tmp_path / "lines.jsonl").exists()


def test_a_source_that_cannot_be_built_fails_the_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wattbridge.toml"
    # streams = [] makes the replay source refuse to be built.
    path.write_text(
        '[sources.gen]\nplugin = "replay"\nstreams = []\n[sinks.o]\nplugin = "jsonl"\n'
        '[[routes]]\nfrom = "gen"\nto = "o"\n',
        encoding="utf-8",
    )
    assert main(["test", "-c", str(path)]) == 1
    out = capsys.readouterr().out
    assert "source gen (replay): cannot be built: ValueError: streams:" in out
    assert out.rstrip().endswith("1 failure(s)")
