"""The source in a real Runtime: the jsonl sink at the end, and backpressure."""

from __future__ import annotations

import subprocess
import sys
import time

from wattbridge.testing import wait_until

ROW = "2026-01-01T00:{m:02d}:{s:02d}Z;{n}\n"


def rows(first: int, count: int) -> str:
    return "".join(ROW.format(m=n // 60 % 60, s=n % 60, n=n) for n in range(first, first + count))


def test_dropped_file_reaches_the_jsonl_sink(wattbridge_runtime, tmp_path, csv):
    inbox = tmp_path / "inbox"
    out = tmp_path / "out.jsonl"
    wattbridge_runtime(
        f"""
[sources.folder]
plugin = "csv-folder"
inbox = "{inbox}"
settle = "0.05s"
finished_after = "0.2s"
scan_interval = "0.02s"

[sinks.out]
plugin = "jsonl"
path = "{out}"

[[routes]]
from = "folder"
to = "out"
streams = {{"a" = "meter/a"}}
"""
    )
    wait_until(inbox.exists)
    csv.write(inbox / "f.csv", ";a\n" + rows(0, 10))
    csv.wait_for_path(inbox / "done" / "f.csv")
    wait_until(lambda: len(csv.jsonl(out)) == 10)
    first = csv.jsonl(out)[0]
    assert first == {
        "stream": "meter/a",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "value": 0,
        "unit": "",
        "source": "folder",
    }


def test_a_full_outbox_stops_the_intake_and_nothing_is_lost(wattbridge_runtime, tmp_path, csv):
    inbox = tmp_path / "inbox"
    out = tmp_path / "out.jsonl"
    # The sink flushes only when told (flush_interval 1h, batch never reached), so the
    # outbox fills up and stays full until the test drains it.
    runtime = wattbridge_runtime(
        f"""
[sources.folder]
plugin = "csv-folder"
inbox = "{inbox}"
settle = "0.05s"
finished_after = "0.2s"
scan_interval = "0.02s"
chunk = 50

[sinks.out]
plugin = "jsonl"
path = "{out}"
batch = 100000
flush_interval = "1h"
max_queue = 100

[[routes]]
from = "folder"
to = "out"
"""
    )
    wait_until(inbox.exists)
    outbox = runtime.outboxes["out"]
    wait_until(lambda: outbox.depth == 0 and runtime.workers["out"].busy is False)
    csv.write(inbox / "a.csv", ";a\n" + rows(0, 300))
    csv.write(inbox / "b.csv", ";a\n" + rows(300, 300))
    wait_until(lambda: outbox.depth >= 100, message="the outbox to fill up")
    time.sleep(0.3)
    # Full: the source waits inside emit (a.csv half delivered) and takes no new file.
    assert 100 <= outbox.depth <= 150  # the bound, overshot by at most one chunk
    assert runtime.stats.snapshot()["counters"].get("source.folder.waited_for_room", 0) > 0
    assert not (inbox / "done" / "a.csv").exists()
    assert (inbox / "b.csv").exists()
    source = runtime.sources["folder"].plugin
    assert [f.name for f in source.ledger.follows()] == ["a.csv"]  # b.csv not even hashed yet

    def drained() -> bool:
        runtime.flush_all()
        return (inbox / "done" / "b.csv").exists() and outbox.depth == 0

    wait_until(drained, timeout=30, message="both files through")
    assert [line["value"] for line in csv.jsonl(out)] == list(range(600))


def test_run_until_idle_waits_for_a_file_in_hand(tmp_path):
    """`wattbridge run --until-idle 1` with a file already in the inbox that takes longer
    than a second to settle and to read: the run ends only after every row is delivered
    and the file is final (it used to stop first, having delivered nothing)."""
    count = 60_000
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "big.csv").write_text(
        "timestamp,power\n" + "".join(f"{1_767_225_600 + n},{n}\n" for n in range(count))
    )
    config = tmp_path / "wattbridge.toml"
    config.write_text(
        """
[wattbridge]
state_dir = "state"

[sources.folder]
plugin = "csv-folder"
inbox = "inbox"
format = "wide"
delimiter = ","
timestamp_format = "epoch_s"
settle = "1.5s"
finished_after = "2s"

[sinks.out]
plugin = "jsonl"
path = "out.jsonl"

[[routes]]
from = "folder"
to = "out"
"""
    )
    process = subprocess.run(
        [sys.executable, "-m", "wattbridge", "run", "-c", str(config), "--until-idle", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert (inbox / "done" / "big.csv").exists(), process.stderr[-3000:]
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == count


def test_repeated_times_resolved_are_counted_for_wattbridge_status(
    wattbridge_runtime, tmp_path, csv
):
    inbox = tmp_path / "inbox"
    runtime = wattbridge_runtime(
        f"""
[sources.folder]
plugin = "csv-folder"
inbox = "{inbox}"
format = "wide"
timestamp_column = "time"
timezone = "Europe/Copenhagen"
settle = "0.05s"
finished_after = "0.2s"
scan_interval = "0.02s"

[sinks.out]
plugin = "jsonl"
path = "{tmp_path / "out.jsonl"}"

[[routes]]
from = "folder"
to = "out"
"""
    )
    wait_until(inbox.exists)
    csv.write(
        inbox / "october.csv",
        "time;kwh\n2025-10-26 01:30;1\n2025-10-26 02:30;2\n2025-10-26 02:30;3\n"
        "2025-10-26 03:30;4\n",
    )
    csv.wait_for_path(inbox / "done" / "october.csv")
    counters = runtime.stats.snapshot()["counters"]
    wait_until(
        lambda: (
            runtime.stats.snapshot()["counters"].get("source.folder.repeated_times_resolved") == 1
        ),
        message=f"the counter (have {counters})",
    )
