"""Each format read end to end through a running source: the readings it emits."""

from __future__ import annotations

from datetime import UTC, datetime

SEED_EXAMPLE = """;117217;my/topic;119221
2021-03-10T20:24:30.139Z;a_string;23.4121;-10
2021-03-10T20:24:31.144Z;"another string";999888777.121;0
2021-03-10T20:24:32.161Z;a third string;-1.33e-16;45
2021-03-10T20:24:33.186Z;;54.1;11
2021-03-10T20:24:34.201Z;a-fourth-string;;45
"""


def test_energydata_format_as_in_the_platform_docs(folder_source, inbox, csv):
    source = folder_source(strings=["117217"], units={"my/topic": "kWh"})
    csv.write(inbox / "seed.csv", SEED_EXAMPLE)
    csv.wait_for_path(inbox / "done" / "seed.csv")
    got = csv.as_tuples(source.emitted)
    # Row 5: the string stream's empty cell is an empty string; row 6: the number
    # stream's empty cell is no value, as the import format defines.
    assert got == [
        ("117217", "2021-03-10T20:24:30.139000+00:00", "a_string", ""),
        ("my/topic", "2021-03-10T20:24:30.139000+00:00", 23.4121, "kWh"),
        ("119221", "2021-03-10T20:24:30.139000+00:00", -10, ""),
        ("117217", "2021-03-10T20:24:31.144000+00:00", "another string", ""),
        ("my/topic", "2021-03-10T20:24:31.144000+00:00", 999888777.121, "kWh"),
        ("119221", "2021-03-10T20:24:31.144000+00:00", 0, ""),
        ("117217", "2021-03-10T20:24:32.161000+00:00", "a third string", ""),
        ("my/topic", "2021-03-10T20:24:32.161000+00:00", -1.33e-16, "kWh"),
        ("119221", "2021-03-10T20:24:32.161000+00:00", 45, ""),
        ("117217", "2021-03-10T20:24:33.186000+00:00", "", ""),
        ("my/topic", "2021-03-10T20:24:33.186000+00:00", 54.1, "kWh"),
        ("119221", "2021-03-10T20:24:33.186000+00:00", 11, ""),
        ("117217", "2021-03-10T20:24:34.201000+00:00", "a-fourth-string", ""),
        ("119221", "2021-03-10T20:24:34.201000+00:00", 45, ""),
    ]
    assert all(r.timestamp.tzinfo is UTC for r in source.emitted)


def test_energydata_text_in_a_number_stream_is_a_bad_row_that_says_what_to_do(
    folder_source, inbox, csv
):
    folder_source()  # 117217 not listed in `strings`
    csv.write(inbox / "seed.csv", SEED_EXAMPLE)
    report = csv.report(inbox / "failed", "seed.csv")
    assert "seed.csv:2: 117217: 'a_string' is not a number" in report
    assert "list the stream in `strings`" in report


def test_wide_danish_export(folder_source, inbox, csv):
    """Semicolons, decimal commas, thousands dots, local time, units per column."""
    source = folder_source(
        format="wide",
        delimiter=";",
        decimal=",",
        thousands=".",
        timestamp_column="Tidspunkt",
        timestamp_format="%d-%m-%Y %H:%M",
        timezone="Europe/Copenhagen",
        columns={
            "Forbrug (kWh)": {"stream": "house/import", "unit": "kWh"},
            "Produktion (kWh)": "house/export",
        },
        units={"house/export": "kWh"},
    )
    csv.write(
        inbox / "eloverblik.csv",
        "Tidspunkt;Forbrug (kWh);Produktion (kWh);Note\n"
        "01-01-2026 00:00;1.234,5;0;nytår\n"
        "01-07-2026 12:00;0,25;-1,5;sommer\n",
    )
    csv.wait_for_path(inbox / "done" / "eloverblik.csv")
    assert csv.as_tuples(source.emitted) == [
        ("house/import", "2025-12-31T23:00:00+00:00", 1234.5, "kWh"),
        ("house/export", "2025-12-31T23:00:00+00:00", 0, "kWh"),
        ("house/import", "2026-07-01T10:00:00+00:00", 0.25, "kWh"),
        ("house/export", "2026-07-01T10:00:00+00:00", -1.5, "kWh"),
    ]


def test_wide_without_columns_takes_every_column_but_the_timestamp(folder_source, inbox, csv):
    source = folder_source(format="wide", delimiter=",", timestamp_format="epoch_ms")
    csv.write(inbox / "w.csv", "timestamp,a,b\n1700000000000,1,2.5\n1700000001500,,3\n")
    csv.wait_for_path(inbox / "done" / "w.csv")
    assert csv.as_tuples(source.emitted) == [
        ("a", "2023-11-14T22:13:20+00:00", 1, ""),
        ("b", "2023-11-14T22:13:20+00:00", 2.5, ""),
        ("b", "2023-11-14T22:13:21.500000+00:00", 3, ""),
    ]


def test_wide_iso_with_offsets_and_epoch_seconds(folder_source, inbox, csv):
    source = folder_source(format="wide", timestamp_column="t", timezone="Europe/Copenhagen")
    csv.write(inbox / "w.csv", "t;p\n2026-01-01T01:00:00+01:00;1\n2026-01-01 01:00;2\n")
    csv.wait_for_path(inbox / "done" / "w.csv")
    stamps = [r.timestamp for r in source.emitted]
    # An explicit offset wins; a bare local time gets the configured zone.
    assert stamps == [datetime(2026, 1, 1, 0, 0, tzinfo=UTC)] * 2


def test_long_format_with_units_and_extra_columns(folder_source, inbox, csv):
    source = folder_source(
        format="long",
        delimiter=",",
        timestamp_column="time",
        stream_column="meter",
        value_column="reading",
        unit_column="unit",
        strings=["status"],
        timestamp_format="epoch_s",
    )
    csv.write(
        inbox / "long.csv",
        "time,meter,reading,unit,comment\n"
        "1767225600,m1/power,1500,W,ok\n"
        "1767225600,status,running,,\n"
        "1767225601.5,m1/power,1500.5,W,\n"
        "1767225602,m1/power,,W,no value: skipped\n",
    )
    csv.wait_for_path(inbox / "done" / "long.csv")
    assert csv.as_tuples(source.emitted) == [
        ("m1/power", "2026-01-01T00:00:00+00:00", 1500, "W"),
        ("status", "2026-01-01T00:00:00+00:00", "running", ""),
        ("m1/power", "2026-01-01T00:00:01.500000+00:00", 1500.5, "W"),
    ]


def test_long_format_bad_rows_are_named(folder_source, inbox, csv):
    source = folder_source(format="long", delimiter=",")
    csv.write(
        inbox / "long.csv",
        "timestamp,stream,value\n"
        "2026-01-01T00:00:00Z,a,1\n"
        "2026-01-01T00:00:00Z,,1\n"
        "yesterday,a,1\n"
        "2026-01-01T00:00:01Z,a,nan\n"
        "2026-01-01T00:00:01Z,a,99999999999999999999\n"
        "2026-01-01T00:00:02Z,a\n",
    )
    report = csv.report(inbox / "failed", "long.csv")
    assert source.emitted == []
    assert "long.csv:3: the stream cell is empty" in report
    assert "long.csv:4: timestamp 'yesterday' is not ISO 8601" in report
    assert "long.csv:5: a: 'nan' is not a finite number" in report
    assert "long.csv:6: a: '99999999999999999999' is out of range" in report
    assert "long.csv:7: expected 3 fields (as the header), found 2" in report
    assert "5 bad line(s) among 6 row(s)" in report
