"""Property tests, through the real importer, of the two things a file in local time
that is still being written needs: the October hour resolved by order, and the line
follower (any chunking of the appended bytes gives the rows of the whole file)."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wattbridge import Reading
from wattbridge._plugins import load_plugins
from wattbridge.testing import plugin_config
from wattbridge_plugins.sources.csv_folder.importer import Importer, Outcome
from wattbridge_plugins.sources.csv_folder.ledger import Ledger

REGISTRY = load_plugins()
LOG = logging.getLogger("test.follow")
CPH = ZoneInfo("Europe/Copenhagen")
SETTINGS = settings(
    max_examples=int(os.environ.get("CSV_FOLDER_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LOCAL = {
    "format": "long",
    "delimiter": ";",
    "decimal": ",",
    "timestamp_column": "time",
    "stream_column": "meter",
    "value_column": "kwh",
    "timestamp_format": "%d-%m-%Y %H:%M",
    "timezone": "Europe/Copenhagen",
    "on_bad_row": "skip",
}
# Quarter-hours from 23:00 to 04:00 local time around both transitions of 2025.
AUTUMN = [datetime(2025, 10, 25, 21, tzinfo=UTC) + timedelta(minutes=15 * n) for n in range(24)]
SPRING = [datetime(2025, 3, 29, 22, tzinfo=UTC) + timedelta(minutes=15 * n) for n in range(20)]


class Folder:
    """An inbox, a ledger and an importer in a temporary folder."""

    def __init__(self, root: Path, **keys: Any) -> None:
        self.inbox = root / "inbox"
        self.inbox.mkdir(parents=True, exist_ok=True)
        config = plugin_config(
            REGISTRY, "sources", "csv-folder", root, inbox=str(self.inbox), **keys
        )
        self.ledger = Ledger(root / "state" / "ledger.sqlite")
        self.importer = Importer(
            config,
            self.ledger,
            root / "state" / "spool",
            LOG,
            "t",
            threading.Event(),
            # The writer here is this test process itself, which holds the file open
            # (test_writers.py tests the /proc check with real processes): whether a
            # run is final is what each call says.
            held_open=lambda _path: False,
        )
        self.emitted: list[Reading] = []

    def run(self, final: bool) -> Outcome:
        return self.importer.run(
            self.inbox / "f.csv", self.emitted.extend, float("inf") if final else 0.0
        )

    def report(self) -> str:
        for folder in ("done", "failed"):
            path = self.inbox / folder / "f.csv.error.txt"
            if path.exists():
                return path.read_text(encoding="utf-8")
        return ""

    def bad_lines(self) -> list[str]:
        """The report's bad lines (without its heading, which has times and hashes)."""
        return re.findall(r"^f\.csv:\d+:.*$", self.report(), re.MULTILINE)


def local_file(rows: list[tuple[str, datetime, int]]) -> str:
    lines = ["meter;time;kwh"]
    for meter, instant, value in rows:
        local = instant.astimezone(CPH).strftime("%d-%m-%Y %H:%M")
        lines.append(f"{meter};{local};{value // 100},{value % 100:02d}")
    return "\n".join(lines) + "\n"


@st.composite
def local_rows(draw: st.DrawFn) -> list[tuple[str, datetime, int]]:
    """Rows of one or two meters in time order (the meters' rows of an instant in any
    order), each at a subset of the quarter-hours around a DST transition."""
    instants = draw(st.sampled_from([AUTUMN, SPRING]))
    rows = []
    for instant in instants:
        meters = draw(st.lists(st.sampled_from(["m1", "m2"]), unique=True, max_size=2))
        rows.extend((meter, instant, draw(st.integers(0, 99_999))) for meter in meters)
    return rows


def ambiguous(instant: datetime) -> bool:
    naive = instant.astimezone(CPH).replace(tzinfo=None)
    return bool(
        naive.replace(tzinfo=CPH, fold=0).utcoffset()
        != naive.replace(tzinfo=CPH, fold=1).utcoffset()
    )


@given(local_rows())
@SETTINGS
def test_a_repeated_local_time_is_resolved_by_order_or_named_as_a_bad_line(rows):
    """Oracle: a row is at its instant, unless its local time repeats and the file holds
    that meter's local time once: then it is a bad line naming it."""
    text = local_file(rows)
    counts = Counter(
        (meter, instant.astimezone(CPH).replace(tzinfo=None)) for meter, instant, _ in rows
    )
    good, bad_lines = [], []
    for line, (meter, instant, value) in enumerate(rows, start=2):
        naive = instant.astimezone(CPH).replace(tzinfo=None)
        if ambiguous(instant) and counts[(meter, naive)] == 1:
            bad_lines.append(line)
        else:
            good.append((meter, instant, value / 100))
    with tempfile.TemporaryDirectory() as temp:
        folder = Folder(Path(temp), **LOCAL)
        (folder.inbox / "f.csv").write_text(text, encoding="utf-8")
        try:
            assert folder.run(final=True) is Outcome.DONE
            [entry] = folder.ledger.all()
        finally:
            folder.ledger.close()
        got = [(r.stream, r.timestamp, r.value) for r in folder.emitted]
        assert got == good
        reported = re.findall(r"^f\.csv:(\d+):", folder.report(), re.M)
        assert sorted(int(n) for n in reported) == bad_lines
        assert entry.resolved == sum(1 for (meter, naive), count in counts.items() if count == 2)


@st.composite
def appended(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A file (UTC or local time) and the sizes of the pieces it is appended in."""
    if draw(st.booleans()):
        text = local_file(draw(local_rows()))
    else:
        count = draw(st.integers(0, 40))
        text = ";a;b\r\n" + "".join(
            f'2026-01-01T00:00:{n:02d}Z;{n}.5;"x;{n}"\r\n' for n in range(count)
        )
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = data.rstrip(b"\r\n")  # a last line without its line end
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12)))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True) if b > a]
    return data, sizes


@given(appended(), st.booleans())
@example(  # a repeated time held back, then found twinless when final: line numbers count on
    (b"meter;time;kwh\nm1;26-10-2025 01:45;0,00\nm1;26-10-2025 02:45;0,00\n", [65]), False
)
@SETTINGS
def test_any_chunking_of_the_appended_bytes_gives_the_rows_of_the_whole_file(case, restart):
    """Appended piece by piece, with a run after each piece (a fresh importer and
    ledger connection each time if ``restart``), then a final run: the same readings,
    in the same order, as one run over the whole file."""
    data, sizes = case
    keys = LOCAL if data.startswith(b"meter") else {"strings": ["b"], "on_bad_row": "skip"}
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        reference = Folder(root / "whole", **keys)
        (reference.inbox / "f.csv").write_bytes(data)
        try:
            assert reference.run(final=True) is Outcome.DONE
        finally:
            reference.ledger.close()

        folder = Folder(root / "pieces", **keys)
        emitted: list[Reading] = []
        try:
            with (folder.inbox / "f.csv").open("wb") as log:
                written = 0
                for size in sizes:
                    log.write(data[written : written + size])
                    log.flush()
                    written += size
                    assert folder.run(final=False) is Outcome.FOLLOWING
                    if restart:
                        folder.ledger.close()
                        emitted.extend(folder.emitted)
                        folder = Folder(root / "pieces", **keys)
            assert folder.run(final=True) is Outcome.DONE
        finally:
            folder.ledger.close()
        emitted.extend(folder.emitted)
        assert [(r.stream, r.timestamp, r.value) for r in emitted] == [
            (r.stream, r.timestamp, r.value) for r in reference.emitted
        ]
        assert folder.bad_lines() == reference.bad_lines()
