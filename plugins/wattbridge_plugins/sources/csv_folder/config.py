"""The keys of a ``plugin = "csv-folder"`` source table, checked when the config loads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from wattbridge import ConfigValueError

NAMED_TIMESTAMP_FORMATS = ("iso", "epoch_s", "epoch_ms")
"""Timestamp formats given by name; anything else must be a strptime pattern (with %)."""


@attrs.frozen
class ColumnSpec:
    """What a column of a wide file holds: its stream name and unit."""

    stream: str = ""
    """The stream's name; empty: the column's header."""
    unit: str = ""


def _one_char(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if len(value) != 1 or value in "\r\n":
        raise ConfigValueError(
            attribute.name, f"must be one character (not a line end), not {value!r}"
        )


def _timezone(_instance: Any, _attribute: Any, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigValueError(
            "timezone",
            f"{value!r} is not a known time zone; use an IANA name such as "
            '"UTC" or "Europe/Copenhagen"',
        ) from None


def _platform_numbers(instance: Any, attribute: Any, value: str) -> None:
    if instance.format == "energydata" and value != attribute.default:
        raise ValueError(
            f"{attribute.name} {value!r}: the energydata format's numbers are the platform's "
            '(a decimal point, no thousands separator); use format = "wide" or "long"'
        )


def _timestamp_format(_instance: Any, _attribute: Any, value: str) -> None:
    if value not in NAMED_TIMESTAMP_FORMATS and "%" not in value:
        raise ConfigValueError(
            "timestamp_format",
            f"{value!r} is neither one of {', '.join(NAMED_TIMESTAMP_FORMATS)} "
            'nor a strptime pattern such as "%d-%m-%Y %H:%M"',
        )


@attrs.frozen
class CsvFolderConfig:
    """Keys of a ``plugin = "csv-folder"`` source table (see the plugin's README.md)."""

    inbox: Path
    """The folder to watch (local disk or a mounted network share)."""
    done: Path | None = None
    """Where a file goes once every row is durable in the outboxes (default: inbox/done)."""
    failed: Path | None = None
    """Where a rejected file goes, beside its ``.error.txt`` (default: inbox/failed)."""
    duplicates: Path | None = None
    """Where a file already imported goes, beside a note (default: inbox/duplicates)."""
    pattern: str = "*.csv"
    """Glob the file names must match."""
    ignore: list[str] = attrs.field(factory=lambda: ["*.tmp", "*.part", "*.crdownload", "~*"])
    """Globs of names never taken (files being written); hidden files are always ignored."""
    scan_interval: timedelta = timedelta(seconds=0.5)
    """How often the inbox is listed."""
    settle: timedelta = timedelta(seconds=1)
    """A new file is taken once its size and mtime have not changed for this long; after
    that, lines appended to it are imported as they are completed."""
    finished_after: timedelta = timedelta(minutes=3)
    """A file unchanged this long (and held open for writing by no process, where Linux's
    /proc can tell) is final: its last line is imported even without a line end, and it
    moves to done/."""

    format: Literal["energydata", "wide", "long"] = "energydata"
    """Which layout the files have; see the README."""
    delimiter: str = attrs.field(default=";", validator=_one_char)
    quotechar: str = attrs.field(default='"', validator=_one_char)
    decimal: Literal[".", ","] = attrs.field(default=".", validator=_platform_numbers)
    """The decimal mark of numbers; "," for Danish exports (wide and long formats)."""
    thousands: str = attrs.field(default="", validator=_platform_numbers)
    """A thousands separator to drop from numbers ("" for none), e.g. "." with decimal ","
    (wide and long formats)."""

    timestamp_column: str = "timestamp"
    """Header of the timestamp column (wide and long formats)."""
    timestamp_format: str = attrs.field(default="iso", validator=_timestamp_format)
    """"iso", "epoch_s", "epoch_ms" or a strptime pattern (wide and long formats)."""
    timezone: str = attrs.field(default="UTC", validator=_timezone)
    """The zone of timestamps written without an offset (wide and long formats)."""
    ambiguous: Literal["infer", "earlier", "later", "error"] = "infer"
    """A local time in the hour that repeats when DST ends: "infer" tells the two apart
    by the file's order (the first is summer time, the second standard time); "earlier"
    or "later" takes one for both; "error" makes it a bad row."""
    nonexistent: Literal["error", "shift"] = "error"
    """A local time in the hour skipped when DST starts: a bad row, or moved forward by
    the gap (02:30 becomes 03:30 summer time)."""

    columns: dict[str, ColumnSpec | str] = attrs.field(factory=dict)
    """Wide format: header -> stream name, or -> {stream, unit}. Empty: every column but
    the timestamp, named by its header."""
    stream_column: str = "stream"
    """Long format: header of the stream-name column."""
    value_column: str = "value"
    """Long format: header of the value column."""
    unit_column: str = ""
    """Long format: header of a unit column ("" for none)."""

    strings: list[str] = attrs.field(factory=list)
    """Streams whose values are text; every other value must be a number."""
    units: dict[str, str] = attrs.field(factory=dict)
    """Unit of each stream (stream -> unit), where the file does not say."""

    on_bad_row: Literal["reject", "skip"] = "reject"
    """"reject": one bad row fails the whole file (nothing of it is imported); "skip":
    the good rows are imported and the bad ones reported."""
    dedupe: bool = True
    """Send a file whose content was imported before to duplicates/ instead of again."""
    # 20,000: each chunk is one outbox put and one ledger record, each a synced commit;
    # against 5,000 a watch-folder import into jsonl took 10-15% less CPU
    # (bench/bulk_speed.py, 300k rows), 50,000 more again (rows held in memory).
    chunk: int = attrs.field(default=20_000, validator=attrs.validators.ge(1))
    """Readings per emit, at most (whole rows, at least one); progress is saved after each."""
    read_size: int = attrs.field(default=1 << 20, validator=attrs.validators.ge(64))
    """Bytes read at a time; each read re-opens the file and checks it is unchanged."""
    report_limit: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
    """Most bad lines listed one by one in an error report (all are counted)."""

    def __attrs_post_init__(self) -> None:
        if self.delimiter == self.quotechar:
            raise ConfigValueError(
                "quotechar", f"delimiter and quotechar are both {self.delimiter!r}"
            )
        if self.decimal == "," and self.delimiter == ",":
            raise ConfigValueError("decimal", '"," needs another delimiter, such as ";"')
        if self.thousands and (len(self.thousands) != 1 or self.thousands == self.decimal):
            raise ConfigValueError(
                "thousands",
                f"{self.thousands!r} must be one character other than the decimal mark",
            )
        if (
            self.format == "long"
            and len({self.timestamp_column, self.stream_column, self.value_column} - {""}) != 3
        ):
            raise ConfigValueError(
                "value_column",
                "timestamp_column, stream_column and value_column must be three different headers",
            )
        if self.scan_interval <= timedelta(0):
            raise ConfigValueError("scan_interval", "must be positive")
        if self.settle < timedelta(0):
            raise ConfigValueError("settle", "must not be negative")
        if self.finished_after < self.settle:
            raise ConfigValueError(
                "finished_after", f"must not be shorter than settle ({self.settle})"
            )
        for key in ("done", "failed", "duplicates"):
            # A finished file moved back into the inbox would be taken again, forever.
            if getattr(self, key) == self.inbox:
                raise ConfigValueError(key, "must be another folder than the inbox")

    # -- derived -------------------------------------------------------------------

    @property
    def done_dir(self) -> Path:
        """The done/ folder."""
        return self.done or self.inbox / "done"

    @property
    def failed_dir(self) -> Path:
        """The failed/ folder."""
        return self.failed or self.inbox / "failed"

    @property
    def duplicates_dir(self) -> Path:
        """The duplicates/ folder."""
        return self.duplicates or self.inbox / "duplicates"
