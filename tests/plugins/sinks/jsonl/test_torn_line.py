"""A jsonl file left by a process killed in the middle of a write: its last line has no
end. The next run cuts that line off before it appends (its batch was never
acknowledged, so it is written again); appended to, it would have made one line of two,
neither of them JSON (CI once read such a file)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge import Reading

START = datetime(2026, 1, 1, tzinfo=UTC)


def readings(count: int, first: int = 0) -> list[Reading]:
    return [
        Reading("a", START + timedelta(seconds=i), float(i)) for i in range(first, first + count)
    ]


def whole_lines(count: int) -> str:
    return "".join(
        json.dumps({"stream": "old", "timestamp": START.isoformat(), "value": i}) + "\n"
        for i in range(count)
    )


# A torn tail: any text without a line end (the start of a JSON line, or garbage).
torn = st.text(alphabet=st.characters(blacklist_characters="\n"), min_size=1, max_size=200)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kept=st.integers(min_value=0, max_value=5), tail=torn)
def test_a_torn_last_line_is_cut_and_the_rest_kept(
    tmp_path_factory: Any, run_sink: Callable[..., Any], kept: int, tail: str
) -> None:
    out = tmp_path_factory.mktemp("torn") / "out.jsonl"
    out.write_text(whole_lines(kept) + tail, encoding="utf-8")
    run_sink("jsonl", path=str(out)).deliver(readings(3))
    lines = out.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # every line whole JSON
    assert [r["value"] for r in records] == [*range(kept), 0.0, 1.0, 2.0]


def test_a_file_that_ends_whole_is_left_as_it_is(
    tmp_path: Path, run_sink: Callable[..., Any]
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(whole_lines(2), encoding="utf-8")
    run_sink("jsonl", path=str(out)).deliver(readings(1))
    assert [json.loads(line)["value"] for line in out.read_text().splitlines()] == [0, 1, 0.0]


def test_a_torn_line_longer_than_a_read_block_is_cut_whole(
    tmp_path: Path, run_sink: Callable[..., Any]
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(whole_lines(1) + '{"stream": "' + "x" * 200_000, encoding="utf-8")
    run_sink("jsonl", path=str(out)).deliver(readings(1))
    assert [json.loads(line)["value"] for line in out.read_text().splitlines()] == [0, 0.0]
