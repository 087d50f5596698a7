"""Europe/Copenhagen local time: the hour that repeats in October and the one that is
skipped in March are resolved only as the config says, never silently."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from wattbridge_plugins.sources.csv_folder.formats.values import RowProblem, localize

CPH = ZoneInfo("Europe/Copenhagen")

# 2026: summer time starts 29 March 02:00 -> 03:00 and ends 25 October 03:00 -> 02:00.
AUTUMN = "time;kwh\n2026-10-25 01:30;1\n2026-10-25 02:30;2\n2026-10-25 03:30;3\n"
SPRING = "time;kwh\n2026-03-29 01:30;1\n2026-03-29 02:30;2\n2026-03-29 03:30;3\n"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ambiguous", "expected"),
    [("earlier", utc(2026, 10, 25, 0, 30)), ("later", utc(2026, 10, 25, 1, 30))],
)
def test_repeated_hour_resolved_as_configured(folder_source, inbox, csv, ambiguous, expected):
    source = folder_source(
        format="wide", timestamp_column="time", timezone="Europe/Copenhagen", ambiguous=ambiguous
    )
    csv.write(inbox / "autumn.csv", AUTUMN)
    csv.wait_for_path(inbox / "done" / "autumn.csv")
    assert [r.timestamp for r in source.emitted] == [
        utc(2026, 10, 24, 23, 30),  # 01:30 summer time
        expected,
        utc(2026, 10, 25, 2, 30),  # 03:30 standard time
    ]


def test_repeated_hour_is_an_error_by_default(folder_source, inbox, csv):
    source = folder_source(format="wide", timestamp_column="time", timezone="Europe/Copenhagen")
    csv.write(inbox / "autumn.csv", AUTUMN)
    report = csv.report(inbox / "failed", "autumn.csv")
    assert "autumn.csv:3: timestamp '2026-10-25 02:30' is ambiguous in Europe/Copenhagen" in report
    assert 'ambiguous = "earlier" or "later"' in report
    assert source.emitted == []


def test_skipped_hour_shifted_forward(folder_source, inbox, csv):
    source = folder_source(
        format="wide", timestamp_column="time", timezone="Europe/Copenhagen", nonexistent="shift"
    )
    csv.write(inbox / "spring.csv", SPRING)
    csv.wait_for_path(inbox / "done" / "spring.csv")
    assert [r.timestamp for r in source.emitted] == [
        utc(2026, 3, 29, 0, 30),  # 01:30 standard time
        utc(2026, 3, 29, 1, 30),  # 02:30 does not exist: taken as 03:30 summer time
        utc(2026, 3, 29, 1, 30),  # 03:30 summer time
    ]


def test_skipped_hour_is_an_error_by_default_and_skip_mode_keeps_the_rest(
    folder_source, inbox, csv
):
    source = folder_source(
        format="wide", timestamp_column="time", timezone="Europe/Copenhagen", on_bad_row="skip"
    )
    csv.write(inbox / "spring.csv", SPRING)
    report = csv.report(inbox / "done", "spring.csv")
    assert (
        "spring.csv:3: timestamp '2026-03-29 02:30' does not exist in Europe/Copenhagen" in report
    )
    assert [r.value for r in source.emitted] == [1, 3]


def test_localize_edges_exactly():
    def naive(*parts: int) -> datetime:
        return datetime(*parts)

    # The last minute before and the first after each transition are unambiguous.
    assert localize(naive(2026, 10, 25, 1, 59), CPH, "error", "error", "") == utc(
        2026, 10, 24, 23, 59
    )
    assert localize(naive(2026, 10, 25, 3, 0), CPH, "error", "error", "") == utc(2026, 10, 25, 2)
    assert localize(naive(2026, 3, 29, 1, 59), CPH, "error", "error", "") == utc(2026, 3, 29, 0, 59)
    assert localize(naive(2026, 3, 29, 3, 0), CPH, "error", "error", "") == utc(2026, 3, 29, 1)
    # 02:00 itself: repeated in autumn, missing in spring.
    with pytest.raises(RowProblem, match="ambiguous"):
        localize(naive(2026, 10, 25, 2, 0), CPH, "error", "error", "x")
    with pytest.raises(RowProblem, match="does not exist"):
        localize(naive(2026, 3, 29, 2, 0), CPH, "error", "error", "x")
    assert localize(naive(2026, 10, 25, 2, 59), CPH, "later", "error", "") == utc(
        2026, 10, 25, 1, 59
    )
    # UTC has no edges at all.
    assert localize(naive(2026, 3, 29, 2, 30), UTC, "error", "error", "") == utc(2026, 3, 29, 2, 30)
