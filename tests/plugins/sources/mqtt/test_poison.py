"""Issue 14, item 1: a message that cannot be stored is refused at the edge, never
a poison that stops the source. ``wattbridge run`` against a real Mosquitto."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from wattbridge.testing import Mosquitto, jsonl_records, wait_until

CONFIG = """
[wattbridge]
state_dir = "state"
[sources.feed]
plugin = "mqtt"
host = "127.0.0.1"
port = {port}
username = "wattbridge"
password = "wb-pw-4c0e"
[[sources.feed.subscriptions]]
topic = "meter/+"
stream = "{{1}}"
value = "v"
[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
flush_interval = "50ms"
[[routes]]
from = "feed"
to = "out"
"""


def wattbridge(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "wattbridge", *args, "-c", str(tmp_path / "w.toml")]


def test_a_lone_surrogate_is_refused_and_every_later_message_arrives(
    tmp_path: Path, broker: Mosquitto, publish: Callable[..., None]
) -> None:
    (tmp_path / "w.toml").write_text(CONFIG.format(port=broker.port))
    proc = subprocess.Popen(
        wattbridge(tmp_path, "--log-level", "info", "run"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = tmp_path / "out.jsonl"
    try:
        # Retained: the broker hands it over once the source has subscribed.
        publish("meter/first", b'{"v": 1}', retain=True)
        wait_until(lambda: len(jsonl_records(out)) == 1, timeout=30, message="the first reading")
        # Valid JSON whose string has no UTF-8 form: SQLite refuses to store it.
        publish("meter/poison", b'{"v": "\\ud800"}')
        for n in range(2, 12):
            publish(f"meter/m{n}", json.dumps({"v": n}).encode())
        wait_until(
            lambda: len(jsonl_records(out)) == 11, timeout=30, message="the ten messages behind it"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert sorted(r["value"] for r in jsonl_records(out)) == list(range(1, 12))
    assert "meter/poison: value holds a lone surrogate '\\ud800'" in output
    assert "source feed failed" not in output  # refused, not a restart loop
    status = subprocess.run(
        wattbridge(tmp_path, "status", "--json"), capture_output=True, text=True, check=True
    )
    assert json.loads(status.stdout)["runtime"]["counters"]["source.feed.rejected"] == 1
