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
