"""Bad input: a clear report naming each bad line, the file in failed/ (reject) or in
done/ with the good rows delivered (skip); nothing deleted, nothing half-imported."""

from __future__ import annotations

import re
import threading

import pytest

from wattbridge import Stopping

GOOD_AND_BAD = (
    ";a;b\n"
    "2026-01-01T00:00:00Z;1;2\n"
    "2026-01-01T00:00:01Z;x;2\n"  # line 3: not a number
    "2026-01-01T00:00:02Z;3;4\n"
    "2026-01-01 00:00:03;5;6\n"  # line 5: no time zone
    "2026-01-01T00:00:04Z;7\n"  # line 6: too few fields
    "2026-01-01T00:00:05Z;8;9\n"
)


def test_reject_moves_the_file_to_failed_with_a_report_and_emits_nothing(folder_source, inbox, csv):
    source = folder_source()
    original = GOOD_AND_BAD.encode()
    csv.write(inbox / "meter.csv", GOOD_AND_BAD)
    report = csv.report(inbox / "failed", "meter.csv")
    assert (inbox / "failed" / "meter.csv").read_bytes() == original  # moved, untouched
    assert not (inbox / "meter.csv").exists()
    assert source.emitted == []
    assert report.splitlines()[0] == "meter.csv: rejected; nothing of it was imported."
    assert "3 bad line(s) among 6 row(s)" in report
    bad_lines = [line for line in report.splitlines() if re.match(r"meter\.csv:\d+:", line)]
    assert bad_lines == [
        "meter.csv:3: a: 'x' is not a number (list the stream in `strings` if it holds text)",
        "meter.csv:5: timestamp '2026-01-01 00:00:03' has no time zone; "
        "the import format is UTC (...Z)",
        "meter.csv:6: expected 3 fields (as the header), found 2",
    ]
    [entry] = csv.ledger_when(source.source, lambda e: e and e[0].status == "failed")
    assert (entry.status, entry.bad_rows, entry.emitted) == ("failed", 3, 0)


def test_skip_delivers_the_good_rows_and_reports_the_rest_beside_the_file_in_done(
    folder_source, inbox, csv
):
    source = folder_source(on_bad_row="skip")
    csv.write(inbox / "meter.csv", GOOD_AND_BAD)
    report = csv.report(inbox / "done", "meter.csv")
    csv.wait_for_path(inbox / "done" / "meter.csv")
    assert [(r.stream, r.value) for r in source.emitted] == [
        ("a", 1),
        ("b", 2),
        ("a", 3),
        ("b", 4),
        ("a", 8),
        ("b", 9),
    ]
    assert "imported 3 good row(s) (6 readings); 3 bad line(s) were skipped" in report
    assert "meter.csv:3: a: 'x' is not a number" in report
    [entry] = csv.ledger_when(source.source, lambda e: e and e[0].status == "done")
    assert (entry.status, entry.emitted, entry.readings, entry.bad_rows) == ("done", 3, 6, 3)


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("", 0, "the file is empty: it has no header"),
        ("\n\n\n", 0, "the file is empty: it has no header"),
        ("timestamp;a\n2026-01-01T00:00:00Z;1\n", 1, "header: the EnergyData import format"),
        (";a;a\n", 1, "header: column 'a' appears twice"),
        (";a;;b\n", 1, "header: column 3 has no datastream id or topic"),
    ],
)
def test_a_bad_header_fails_the_file_even_in_skip_mode(
    folder_source, inbox, csv, content, line, message
):
    folder_source(on_bad_row="skip")
    csv.write(inbox / "h.csv", content)
    report = csv.report(inbox / "failed", "h.csv")
    assert f"h.csv:{line}: {message}" in report


def test_wide_header_without_the_configured_columns(folder_source, inbox, csv):
    folder_source(format="wide", timestamp_column="Tid", columns={"kWh": "x", "W": "y"})
    csv.write(inbox / "w.csv", "Time;kWh\n2026-01-01T00:00:00Z;1\n")
    report = csv.report(inbox / "failed", "w.csv")
    assert "w.csv:1: header: no timestamp column 'Tid'" in report


def test_names_already_in_failed_are_never_overwritten(folder_source, inbox, csv):
    (inbox / "failed").mkdir()
    (inbox / "failed" / "m.csv").write_text("an older file of the same name\n")
    folder_source()
    csv.write(inbox / "m.csv", ";a\nnot a time;1\n")
    report = csv.report(inbox / "failed", "m.1.csv")
    assert "m.csv:2: timestamp 'not a time' is not ISO 8601" in report
    assert (inbox / "failed" / "m.1.csv").read_text() == ";a\nnot a time;1\n"
    assert (inbox / "failed" / "m.csv").read_text() == "an older file of the same name\n"


def test_report_limit_lists_the_first_bad_lines_and_counts_all(folder_source, inbox, csv):
    folder_source(report_limit=3)
    rows = "".join(f"2026-01-01T00:00:{n:02d}Z;bad{n}\n" for n in range(10))
    csv.write(inbox / "many.csv", ";a\n" + rows)
    report = csv.report(inbox / "failed", "many.csv")
    listed = [line for line in report.splitlines() if re.match(r"many\.csv:\d+:", line)]
    assert [line.split(":")[1] for line in listed] == ["2", "3", "4"]
    assert "10 bad line(s) among 10 row(s)" in report
    assert "... and 7 more bad line(s), not listed (report_limit)" in report


def test_a_huge_line_fails_the_file_without_eating_memory(folder_source, inbox, csv):
    folder_source()
    path = inbox / ".big"
    with path.open("wb") as handle:
        handle.write(b";a\n")
        handle.write(b"x" * (17 << 20))  # 17 MiB without a line end
    path.rename(inbox / "big.csv")
    report = csv.report(inbox / "failed", "big.csv", timeout=20)
    assert "big.csv:2: a line longer than 16 MiB" in report


def test_a_file_half_delivered_then_rejected_under_a_stricter_config_says_so(
    folder_source, inbox, csv
):
    rows = "".join(f"2026-01-01T00:00:{n:02d}Z;{n}\n" for n in range(50))
    csv.write(inbox / "f.csv", ";a\n" + rows + "2026-01-01T00:01:00Z;bad\n")
    first = folder_source(start=False, on_bad_row="skip", chunk=10).source
    calls: list[int] = []

    def emit(readings: list) -> None:
        calls.append(len(readings))
        if len(calls) == 2:
            raise Stopping("stopping in the middle of the file")

    thread = threading.Thread(target=first.start, args=(emit,))
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and calls == [10, 10]
    first.close()
    assert (inbox / "f.csv").exists()
    folder_source(on_bad_row="reject")  # the same state folder: the same ledger
    report = csv.report(inbox / "failed", "f.csv")
    assert report.startswith("f.csv: rejected now; 10 row(s) of it had been queued before")
    assert "f.csv:52: a: 'bad' is not a number" in report


def test_a_bad_row_appended_to_a_followed_file_rejects_the_rest(folder_source, inbox, csv):
    """Rows of a growing file are delivered as they come; a bad row appended later (with
    on_bad_row = "reject") fails the file from there, and the report says what had been
    delivered."""
    source = folder_source(finished_after="10s")
    path = inbox / "log.csv"
    with path.open("w", encoding="utf-8") as log:
        log.write(";a\n2026-01-01T00:00:00Z;1\n2026-01-01T00:00:01Z;2\n")
        log.flush()
        source.wait_for(2)
        log.write("2026-01-01T00:00:02Z;x\n2026-01-01T00:00:03Z;4\n")
    report = csv.report(inbox / "failed", "log.csv")
    assert report.startswith("log.csv: rejected now; 2 row(s) of it had been queued before")
    assert "log.csv:4: a: 'x' is not a number" in report
    assert [r.value for r in source.emitted] == [1, 2]
