"""A first end-to-end check: replay source -> outbox -> jsonl sink."""

import json

from wattbridge.testing import wait_until


def test_replay_to_jsonl(tmp_path, wattbridge_runtime):
    out = tmp_path / "out.jsonl"
    runtime = wattbridge_runtime(
        f"""
[sources.demo]
plugin = "replay"
rate = 0
count = 3000
start = "2026-01-01T00:00:00+00:00"

[sinks.out]
plugin = "jsonl"
path = "{out}"

[[routes]]
from = "demo"
to = "out"
"""
    )
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 3000)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["timestamp"] == "2026-01-01T00:00:00+00:00"
    # The file is written before the outbox acknowledges the batch: wait for both.
    wait_until(lambda: runtime.outboxes["out"].depth == 0)


def test_a_replayed_line_that_cannot_be_stored_is_skipped_and_counted(tmp_path, wattbridge_runtime):
    # Valid JSON whose stream holds a lone surrogate (issue 14): it must not reach the
    # outbox, where SQLite would refuse it and stop the source at that line for ever.
    lines = [
        {"stream": "a", "timestamp": "2026-01-01T00:00:00+00:00", "value": 1},
        {"stream": "\ud800", "timestamp": "2026-01-01T00:00:01+00:00", "value": 2},
        {"stream": "a", "timestamp": "2026-01-01T00:00:02+00:00", "value": "\udfff"},
        {"stream": "a", "timestamp": "2026-01-01T00:00:03+00:00", "value": 4},
    ]
    readings = tmp_path / "in.jsonl"
    readings.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    runtime = wattbridge_runtime(
        f"""
[sources.demo]
plugin = "replay"
rate = 0
path = "{readings}"

[sinks.out]
plugin = "jsonl"
path = "{out}"

[[routes]]
from = "demo"
to = "out"
"""
    )
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 2)
    assert [json.loads(line)["value"] for line in out.read_text().splitlines()] == [1, 4]
    wait_until(lambda: runtime.stats.snapshot()["counters"].get("source.demo.rejected") == 2)
