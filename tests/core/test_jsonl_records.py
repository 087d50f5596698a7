"""jsonl_records: what a jsonl sink wrote, read while it may be writing (CI once read a
line half-written and failed on it)."""

from __future__ import annotations

from pathlib import Path

from wattbridge.testing import jsonl_records


def test_a_half_written_last_line_is_left_for_the_next_read(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert jsonl_records(out) == []
    out.write_text('{"value": 1}\n{"value": 2, "uni', encoding="utf-8")
    assert jsonl_records(out) == [{"value": 1}]
    with out.open("a", encoding="utf-8") as file:
        file.write('t": "kWh"}\n')
    assert jsonl_records(out) == [{"value": 1}, {"value": 2, "unit": "kWh"}]
