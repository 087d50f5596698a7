"""Europe/Copenhagen local time: the hour that repeats in October and the one that is
skipped in March are resolved only as the config says, never silently.

The full days are written as Danish utilities write them. The long layout is
Eloverblik's (Energinet DataHub's customer portal) CSV of meter data, as its API sends
it: ``Målepunkt id;Fra dato;Til dato;Mængde;Måleenhed;Kvalitet;Type``, local time
``DD-MM-YYYY HH:MM:SS``, a decimal comma (checked against the parser and its test data
in the public repository Noitcereon/electricity-data-consolidator, MeterDataDefaultFormat
and its test of the API's CSV). The wide layout is a utility's spreadsheet export, as
examples/watch-folder/sample-data has it. Each file is written from UTC instants turned
into local time by zoneinfo (the direction without ambiguity), so the expected
instants never come from the code under test.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from wattbridge import Reading
from wattbridge._plugins import load_plugins
from wattbridge.testing import plugin_config
from wattbridge_plugins.sources.csv_folder.formats.values import RowProblem, localize
from wattbridge_plugins.sources.csv_folder.importer import Importer, Outcome
from wattbridge_plugins.sources.csv_folder.ledger import Entry, Ledger

CPH = ZoneInfo("Europe/Copenhagen")
REGISTRY = load_plugins()
METER = "571313174001764929"
OCTOBER = datetime(2025, 10, 26)  # 25 hours: 02:00-02:59 twice
MARCH = datetime(2025, 3, 30)  # 23 hours: no 02:00-02:59

# 2026: summer time starts 29 March 02:00 -> 03:00 and ends 25 October 03:00 -> 02:00.
AUTUMN = "time;kwh\n2026-10-25 01:30;1\n2026-10-25 02:30;2\n2026-10-25 03:30;3\n"
SPRING = "time;kwh\n2026-03-29 01:30;1\n2026-03-29 02:30;2\n2026-03-29 04:30;3\n"

ELOVERBLIK = {
    "format": "long",
    "delimiter": ";",
    "decimal": ",",
    "timestamp_column": "Fra dato",
    "timestamp_format": "%d-%m-%Y %H:%M:%S",
    "stream_column": "Målepunkt id",
    "value_column": "Mængde",
    "unit_column": "Måleenhed",
    "timezone": "Europe/Copenhagen",
}
WIDE = {
    "format": "wide",
    "delimiter": ";",
    "decimal": ",",
    "thousands": ".",
    "timestamp_column": "Tidspunkt",
    "timestamp_format": "%d-%m-%Y %H:%M",
    "timezone": "Europe/Copenhagen",
    "columns": {"Forbrug (kWh)": {"stream": "house/import_kwh", "unit": "kWh"}},
}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local_day(day: datetime, step: timedelta) -> list[datetime]:
    """Every instant (UTC) of the local day ``day`` in Copenhagen, ``step`` apart."""
    start = day.replace(tzinfo=CPH).astimezone(UTC)
    end = (day + timedelta(days=1)).replace(tzinfo=CPH).astimezone(UTC)
    instants = []
    while start < end:
        instants.append(start)
        start += step
    return instants


def kwh(n: int) -> str:
    return f"{n // 1000},{n % 1000:03d}"  # 1234 -> "1,234": a decimal comma


def eloverblik(
    instants: list[datetime],
    meters: tuple[str, ...] = (METER,),
    step: timedelta = timedelta(hours=1),
) -> str:
    """An Eloverblik meter-data CSV of ``instants`` (UTC): CRLF, local time, decimal
    comma; with several metering points, their rows of each instant interleave."""
    lines = ["Målepunkt id;Fra dato;Til dato;Mængde;Måleenhed;Kvalitet;Type"]
    for n, instant in enumerate(instants):
        start = instant.astimezone(CPH).strftime("%d-%m-%Y %H:%M:%S")
        end = (instant + step).astimezone(CPH).strftime("%d-%m-%Y %H:%M:%S")
        for m, meter in enumerate(meters):
            value = kwh(100 + n * 10 + m)
            lines.append(f"{meter};{start};{end};{value};KWH;Målt;Tidsserie")
    return "\r\n".join(lines) + "\r\n"


def wide(instants: list[datetime]) -> str:
    """A utility's wide export of ``instants`` (UTC): BOM, local time, decimal comma."""
    lines = ["\ufeffTidspunkt;Forbrug (kWh)"]
    for n, instant in enumerate(instants):
        lines.append(f"{instant.astimezone(CPH).strftime('%d-%m-%Y %H:%M')};{kwh(1000 + n)}")
    return "\r\n".join(lines) + "\r\n"


def value_of(n: int) -> float:
    return float(kwh(n).replace(",", "."))


ImportFile = Callable[..., tuple[Outcome, list[Reading], str, Entry | None]]


@pytest.fixture
def import_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> ImportFile:
    """``import_file(text, **keys)``: run the importer on one final file, as the source
    does; (outcome, readings, the report beside it or "", its ledger entry)."""
    caplog.set_level(logging.INFO)

    def run(text: str, **keys: Any) -> tuple[Outcome, list[Reading], str, Entry | None]:
        inbox = tmp_path / "inbox"
        inbox.mkdir(exist_ok=True)
        (inbox / "day.csv").write_bytes(text.encode("utf-8"))
        config = plugin_config(
            REGISTRY, "sources", "csv-folder", tmp_path, inbox=str(inbox), **keys
        )
        ledger = Ledger(tmp_path / "state" / "ledger.sqlite")
        emitted: list[Reading] = []
        try:
            importer = Importer(
                config,
                ledger,
                tmp_path / "state" / "spool",
                logging.getLogger("test.dst"),
                "t",
                threading.Event(),
            )
            outcome = importer.run(inbox / "day.csv", emitted.extend)
            entries = ledger.all()
        finally:
            ledger.close()
        folder = inbox / ("failed" if outcome is Outcome.FAILED else "done")
        report = folder / "day.csv.error.txt"
        return (
            outcome,
            emitted,
            report.read_text(encoding="utf-8") if report.exists() else "",
            entries[-1] if entries else None,
        )

    return run


# -- the October day and the March day, as the utilities write them ------------------


@pytest.mark.parametrize("step", [timedelta(hours=1), timedelta(minutes=15)], ids=["hour", "15m"])
@pytest.mark.parametrize("layout", ["eloverblik", "wide"])
def test_the_25_hour_october_day_arrives_at_distinct_instants(import_file, caplog, step, layout):
    instants = local_day(OCTOBER, step)
    assert len(instants) == 25 * timedelta(hours=1) // step  # 25 or 100 rows
    text = eloverblik(instants, step=step) if layout == "eloverblik" else wide(instants)
    stamps = [line.split(";")[1 if layout == "eloverblik" else 0] for line in text.splitlines()]
    repeated = [stamp for stamp in stamps if stamp.startswith("26-10-2025 02:")]
    assert len(repeated) == 2 * (timedelta(hours=1) // step)  # 2 or 8 rows
    outcome, readings, report, entry = import_file(
        text, **(ELOVERBLIK if layout == "eloverblik" else WIDE)
    )
    assert (outcome, report) == (Outcome.DONE, "")
    assert [r.timestamp for r in readings] == instants  # all distinct, in order
    first = 100 if layout == "eloverblik" else 1000
    step_n = 10 if layout == "eloverblik" else 1
    assert [r.value for r in readings] == [
        value_of(first + n * step_n) for n in range(len(instants))
    ]
    pairs = timedelta(hours=1) // step
    assert entry is not None and entry.resolved == pairs
    assert f"{pairs} repeated local time(s) of the hour DST ends told apart by order" in (
        caplog.text
    )


@pytest.mark.parametrize("step", [timedelta(hours=1), timedelta(minutes=15)], ids=["hour", "15m"])
@pytest.mark.parametrize("layout", ["eloverblik", "wide"])
def test_the_23_hour_march_day_arrives_at_its_instants(import_file, step, layout):
    instants = local_day(MARCH, step)
    assert len(instants) == 23 * timedelta(hours=1) // step
    text = eloverblik(instants, step=step) if layout == "eloverblik" else wide(instants)
    assert "30-03-2025 02:" not in text
    outcome, readings, report, entry = import_file(
        text, **(ELOVERBLIK if layout == "eloverblik" else WIDE)
    )
    assert (outcome, report) == (Outcome.DONE, "")
    assert [r.timestamp for r in readings] == instants
    assert entry is not None and entry.resolved == 0


def test_two_metering_points_interleaved_in_the_repeated_hour(import_file):
    instants = local_day(OCTOBER, timedelta(hours=1))
    meters = (METER, "571313174001764930")
    outcome, readings, report, _entry = import_file(eloverblik(instants, meters), **ELOVERBLIK)
    assert (outcome, report) == (Outcome.DONE, "")
    for meter in meters:
        assert [r.timestamp for r in readings if r.stream == meter] == instants
    assert {r.unit for r in readings} == {"KWH"}


def test_a_repeated_time_without_its_twin_is_a_bad_row_naming_the_line(import_file):
    instants = local_day(OCTOBER, timedelta(hours=1))
    del instants[3]  # the second 02:00 (standard time) is missing: 24 rows
    outcome, readings, report, _entry = import_file(wide(instants), **WIDE)
    assert outcome is Outcome.FAILED and readings == []
    assert "day.csv:4: timestamp '26-10-2025 02:00' is in the hour that repeats" in report
    assert "the file holds it once" in report and len(re.findall(r"day\.csv:\d+:", report)) == 1

    outcome, readings, report, _entry = import_file(wide(instants), **WIDE, on_bad_row="skip")
    assert outcome is Outcome.DONE and len(readings) == 23
    assert instants[2] not in [r.timestamp for r in readings]


def test_a_repeated_time_a_third_time_is_a_bad_row(import_file):
    instants = local_day(OCTOBER, timedelta(hours=1))
    text = wide(instants).replace("\r\n26-10-2025 03:00;", "\r\n26-10-2025 02:00;")
    outcome, _readings, report, _entry = import_file(text, **WIDE)
    assert outcome is Outcome.FAILED
    assert "day.csv:6: timestamp '26-10-2025 02:00' appears a third time (first on line 4)" in (
        report
    )


def test_earlier_never_lets_the_second_hour_overwrite_the_first(import_file):
    """The bug this replaces: 25 rows became 24 hours and the report said all was well."""
    text = wide(local_day(OCTOBER, timedelta(hours=1)))
    outcome, readings, report, _entry = import_file(text, **WIDE, ambiguous="earlier")
    assert outcome is Outcome.FAILED and readings == []
    assert "day.csv:4: house/import_kwh: lands on 2025-10-26T00:00:00Z as line 5 does" in report
    assert "day.csv:5: house/import_kwh: lands on 2025-10-26T00:00:00Z as line 4 does" in report
    assert 'ambiguous = "infer" tells' in report

    outcome, readings, report, _entry = import_file(
        text, **WIDE, ambiguous="earlier", on_bad_row="skip"
    )
    assert outcome is Outcome.DONE and len(readings) == 23  # neither of the two, never one
    stamps = [r.timestamp for r in readings]
    assert len(set(stamps)) == len(stamps)


def test_the_same_reading_twice_in_the_repeated_hour_is_harmless(import_file):
    text = "time;kwh\n2026-10-25 01:30;1\n2026-10-25 02:30;2\n2026-10-25 02:30;2\n"
    outcome, readings, _report, _entry = import_file(
        text,
        format="wide",
        timestamp_column="time",
        timezone="Europe/Copenhagen",
        ambiguous="earlier",
    )
    assert outcome is Outcome.DONE and [r.value for r in readings] == [1, 2, 2]


# -- the explicit policies -------------------------------------------------------------


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


def test_repeated_hour_is_an_error_when_configured(folder_source, inbox, csv):
    source = folder_source(
        format="wide", timestamp_column="time", timezone="Europe/Copenhagen", ambiguous="error"
    )
    csv.write(inbox / "autumn.csv", AUTUMN)
    report = csv.report(inbox / "failed", "autumn.csv")
    assert "autumn.csv:3: timestamp '2026-10-25 02:30' is ambiguous in Europe/Copenhagen" in report
    assert 'ambiguous = "infer" (the file\'s order tells), "earlier" or "later"' in report
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
        utc(2026, 3, 29, 2, 30),  # 04:30 summer time
    ]


def test_a_shifted_time_landing_on_a_real_one_with_another_value_is_two_bad_rows(import_file):
    text = "time;kwh\n2026-03-29 01:30;1\n2026-03-29 02:30;2\n2026-03-29 03:30;3\n"
    keys = {"format": "wide", "timestamp_column": "time", "timezone": "Europe/Copenhagen"}
    outcome, readings, report, _entry = import_file(
        text, **keys, nonexistent="shift", on_bad_row="skip"
    )
    assert outcome is Outcome.DONE and [r.value for r in readings] == [1]
    assert "day.csv:3: kwh: lands on 2026-03-29T01:30:00Z as line 4 does" in report
    assert "day.csv:4: kwh: lands on 2026-03-29T01:30:00Z as line 3 does" in report


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


def test_infer_refuses_a_file_newest_first_rather_than_swap_the_hours(import_file):
    """Read by order, a file newest first would give the repeated hour's two rows each
    other's instants: its repeated times are bad rows instead, naming the order."""
    instants = list(reversed(local_day(OCTOBER, timedelta(hours=1))))
    outcome, readings, report, _entry = import_file(
        eloverblik(instants), **ELOVERBLIK, on_bad_row="skip"
    )
    assert outcome is Outcome.DONE
    assert "its summer-time twin is missing, or the file is newest first" in report
    lines = sorted(int(n) for n in re.findall(r"^day\.csv:(\d+):", report, re.MULTILINE))
    assert lines == [23, 24]  # both 02:00 rows; none of them imported at a swapped instant
    assert [r.timestamp for r in readings] == [t for t in instants if t not in instants[21:23]]
