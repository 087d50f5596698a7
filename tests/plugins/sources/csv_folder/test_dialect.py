"""The quirks real CSV files have: each read correctly, each tested on its own."""

from __future__ import annotations

import pytest

HEADER = ";a;b\n"
ROWS = "2026-01-01T00:00:00Z;1;x\n2026-01-01T00:00:01Z;2;y\n"
EXPECTED = [
    ("a", "2026-01-01T00:00:00+00:00", 1, ""),
    ("b", "2026-01-01T00:00:00+00:00", "x", ""),
    ("a", "2026-01-01T00:00:01+00:00", 2, ""),
    ("b", "2026-01-01T00:00:01+00:00", "y", ""),
]


def run(folder_source, inbox, csv, data: bytes, name: str = "f.csv", **keys):
    source = folder_source(strings=["b"], **keys)
    path = inbox / name
    tmp = inbox / f".{name}"
    tmp.write_bytes(data)
    tmp.rename(path)
    csv.wait_for_path(inbox / "done" / name)
    return csv.as_tuples(source.emitted)


def test_utf8_bom(folder_source, inbox, csv):
    data = b"\xef\xbb\xbf" + (HEADER + ROWS).encode()
    assert run(folder_source, inbox, csv, data) == EXPECTED


def test_crlf_line_ends(folder_source, inbox, csv):
    data = (HEADER + ROWS).replace("\n", "\r\n").encode()
    assert run(folder_source, inbox, csv, data) == EXPECTED


def test_bom_and_crlf_and_no_final_line_end(folder_source, inbox, csv):
    data = b"\xef\xbb\xbf" + (HEADER + ROWS).replace("\n", "\r\n").rstrip().encode()
    assert run(folder_source, inbox, csv, data) == EXPECTED


def test_blank_lines_anywhere(folder_source, inbox, csv):
    text = "\n\n" + HEADER + "\n" + ROWS.replace("\n", "\n\r\n", 1) + "\n\n;;\n"
    assert run(folder_source, inbox, csv, text.encode()) == EXPECTED


def test_quoted_delimiters_quotes_and_line_breaks(folder_source, inbox, csv):
    text = HEADER + '2026-01-01T00:00:00Z;"1";"x;1 ""quoted""\nsecond line"\n'
    got = run(folder_source, inbox, csv, text.encode())
    assert got == [
        ("a", "2026-01-01T00:00:00+00:00", 1, ""),
        ("b", "2026-01-01T00:00:00+00:00", 'x;1 "quoted"\nsecond line', ""),
    ]


def test_line_numbers_count_physical_lines_after_a_quoted_line_break(folder_source, inbox, csv):
    folder_source(strings=["b"])
    text = HEADER + '2026-01-01T00:00:00Z;1;"two\nlines"\n\n2026-01-01T00:00:01Z;oops;y\n'
    csv.write(inbox / "f.csv", text)
    report = csv.report(inbox / "failed", "f.csv")
    assert "f.csv:5: a: 'oops' is not a number" in report


def test_trailing_delimiter_on_every_line(folder_source, inbox, csv):
    text = ";a;b;\n2026-01-01T00:00:00Z;1;x;\n2026-01-01T00:00:01Z;2;y;\n"
    assert run(folder_source, inbox, csv, text.encode()) == EXPECTED


@pytest.mark.parametrize("delimiter", [",", "\t", "|"])
def test_other_delimiters_in_the_wide_format(folder_source, inbox, csv, delimiter):
    text = f"timestamp{delimiter}a\n2026-01-01T00:00:00Z{delimiter}1.5\n"
    source = folder_source(format="wide", delimiter=delimiter)
    csv.write(inbox / "w.csv", text)
    csv.wait_for_path(inbox / "done" / "w.csv")
    assert csv.as_tuples(source.emitted) == [("a", "2026-01-01T00:00:00+00:00", 1.5, "")]


def test_non_ascii_names_and_text(folder_source, inbox, csv):
    text = ";måler/æøå;b\n2026-01-01T00:00:00Z;1;Ærø\n"
    got = run(folder_source, inbox, csv, text.encode())
    assert got == [
        ("måler/æøå", "2026-01-01T00:00:00+00:00", 1, ""),
        ("b", "2026-01-01T00:00:00+00:00", "Ærø", ""),
    ]


def test_invalid_utf8_is_a_bad_line_not_a_crash(folder_source, inbox, csv):
    folder_source(strings=["b"])
    data = (HEADER + "2026-01-01T00:00:00Z;1;caf").encode() + b"\xe9\n" + ROWS.encode()
    (inbox / ".f.csv").write_bytes(data)
    (inbox / ".f.csv").rename(inbox / "f.csv")
    report = csv.report(inbox / "failed", "f.csv")
    assert "f.csv:2: not UTF-8 text: invalid continuation byte" in report


def test_a_bare_carriage_return_inside_an_unquoted_field_is_a_bad_line(folder_source, inbox, csv):
    folder_source(strings=["b"])
    (inbox / ".f.csv").write_bytes((HEADER + "2026-01-01T00:00:00Z;1;x\ry\n").encode())
    (inbox / ".f.csv").rename(inbox / "f.csv")
    report = csv.report(inbox / "failed", "f.csv")
    assert "f.csv:2: not valid CSV: new-line character seen in unquoted field" in report


def test_a_nul_byte_in_a_number_is_a_bad_line(folder_source, inbox, csv):
    source = folder_source(strings=["b"], on_bad_row="skip")
    (inbox / ".f.csv").write_bytes((HEADER + "2026-01-01T00:00:00Z;1\x00;x\n" + ROWS).encode())
    (inbox / ".f.csv").rename(inbox / "f.csv")
    report = csv.report(inbox / "done", "f.csv")
    assert "f.csv:2: a: '1\\x00' is not a number" in report
    assert len(source.emitted) == 4
