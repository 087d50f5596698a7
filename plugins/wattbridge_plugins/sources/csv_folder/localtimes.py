"""Wall-clock times of one file to UTC, with daylight saving time's edge hours decided
explicitly, and by the file's order where the config says ``ambiguous = "infer"``.

In the hour that repeats when DST ends (02:00-02:59 on the last Sunday of October in
Denmark), a file in time order holds each local time twice: the first is summer time,
the second standard time. That is what ``"infer"`` decides, as pandas'
``tz_localize(ambiguous="infer")`` does, but per *key* (a stream of the long format;
the row of the wide format), so interleaved streams are counted apart. A repeated time
that appears only once in the file, or a third time, is a bad row naming its line.

Rows in DST's edge hours (repeated, skipped, or the hour a skipped time is shifted
into) are *claimed* per (stream, UTC instant): two of them landing on one instant with
different values are both bad rows, never one silently overwriting the other (as
``ambiguous = "earlier"`` did to the October hour). The state is small (a few rows a
year) and is saved between the segments of a file that is still growing.

One :class:`LocalTimes` serves one pass over one file: the *check* pass decides (and
counts the hours it resolved); the *emit* pass replays those decisions by line number,
so a resume in the middle of a file gives every row the instant the check gave it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.formats.values import (
    ORDINARY,
    REPEATED,
    SKIPPED,
    RowProblem,
    from_epoch_us,
    resolve,
    to_utc,
    wall_clock,
)
from wattbridge_plugins.sources.csv_folder.rowtypes import Cell

HOUR = timedelta(hours=1)


class LocalTimes:
    """The DST decisions of one pass over one file; ``line`` is set by the importer to
    the line of the row being parsed."""

    def __init__(
        self, zone: tzinfo, ambiguous: str, nonexistent: str, deciding: bool, state: str = ""
    ) -> None:
        self.zone = zone
        self.ambiguous = ambiguous
        self.nonexistent = nonexistent
        self.deciding = deciding
        """True in the check pass (decide and claim); False in the emit pass (replay)."""
        self.line = 0
        self.edge = False
        """Set while parsing a row whose time is in an edge hour: its cells must be claimed."""
        saved: dict[str, Any] = json.loads(state) if state else {}
        self.seen: dict[str, list[Any]] = saved.get("seen", {})
        """key + local time -> [occurrences, first line, its text] (repeated hour, infer)."""
        self.claims: dict[str, list[Any]] = saved.get("claims", {})
        """stream + UTC instant -> [value, line] of rows in edge hours."""
        self.ordered = deciding and ambiguous == "infer" and zone is not UTC
        """Whether to keep each key's last local time, to check the file's order."""
        self.last: dict[str, datetime] = {
            key: datetime.fromisoformat(text) for key, text in saved.get("last", {}).items()
        }
        """key -> the local time of its last row (infer only)."""
        self.later: set[int] = set()
        """Lines decided as the second occurrence (standard time) by the check pass."""
        self.bad: dict[int, str] = {}
        """Lines made bad by a decision here, with the reason (the emit pass skips them)."""
        self.retro: dict[int, str] = {}
        """Lines read as good, then made bad by a later row (the first of two that land
        on one instant with different values)."""
        self.resolved = 0
        """Repeated local times resolved by order in this pass (pairs of rows)."""

    def state(self) -> str:
        """The state to carry into the next segment of a growing file (JSON)."""
        last = {key: moment.isoformat() for key, moment in self.last.items()}
        return json.dumps(
            {"seen": self.seen, "claims": self.claims, "last": last}, separators=(",", ":")
        )

    def replay(self) -> LocalTimes:
        """A LocalTimes for the emit pass over the same rows, with this pass's decisions."""
        other = LocalTimes(self.zone, self.ambiguous, self.nonexistent, deciding=False)
        other.later = self.later
        other.bad = self.bad
        return other

    # -- parsing -----------------------------------------------------------------

    def localize(self, naive: datetime, key: str, text: str) -> datetime:
        """The UTC instant of wall-clock time ``naive`` (of the row's ``key``)."""
        zone = self.zone
        if zone is UTC:
            return naive.replace(tzinfo=UTC)
        previous = None
        if self.ordered:
            previous = self.last.get(key)
            self.last[key] = naive
        early, late, kind = wall_clock(naive, zone)
        if kind == ORDINARY:
            if self.nonexistent == "shift" and wall_clock(naive - HOUR, zone)[2] == SKIPPED:
                self.edge = True  # a skipped time shifted forward may land here
            return to_utc(early, text)
        self.edge = True
        if kind == REPEATED and self.ambiguous == "infer":
            return to_utc(late if self._later(key, naive, text, previous) else early, text)
        return resolve(early, late, kind, self.ambiguous, self.nonexistent, text)

    def _later(self, key: str, naive: datetime, text: str, previous: datetime | None) -> bool:
        """True if this occurrence of a repeated local time is the second (standard time);
        ``previous`` is the local time of the key's row before it."""
        if not self.deciding:
            return self.line in self.later
        name = f"{key}\x00{naive.isoformat()}"
        seen = self.seen.get(name)
        if seen is None:
            if previous is not None and previous > naive:
                # After the clock went back: standard time whose summer twin is missing,
                # or a file newest first, whose order would swap the two. Either way a
                # bad row, never a guess.
                self._refuse(
                    f"timestamp {text!r} is in the hour that repeats when daylight saving "
                    f"time ends, and comes after a later time ({previous:%Y-%m-%d %H:%M})"
                    + (f" for {key}" if key else "")
                    + ": its summer-time twin is missing, or the file is newest first; "
                    'ambiguous = "infer" needs both, in time order, oldest first'
                )
            self.seen[name] = [1, self.line, text.strip()]
            return False
        if seen[0] == 1:
            seen[0] = 2
            self.later.add(self.line)
            self.resolved += 1
            return True
        seen[0] += 1
        self._refuse(
            f"timestamp {text!r} appears a {_nth(seen[0])} time"
            + (f" for {key}" if key else "")
            + f" (first on line {seen[1]}); a local time repeats only once when daylight "
            "saving time ends"
        )

    def claim(self, cells: list[Cell]) -> None:
        """Claim the instants of a row in an edge hour; raises RowProblem if another row
        claimed one of them with another value (and marks that row bad too)."""
        self.edge = False
        if not self.deciding:
            return
        fresh: dict[str, list[Any]] = {}
        for stream, stamp, value, _unit in cells:
            moment = from_epoch_us(stamp)  # a few rows a year: the text as it always was
            name = f"{stream}\x00{moment.isoformat()}"
            prior = self.claims.get(name)
            if prior is None:
                fresh[name] = [value, self.line]
                continue
            if prior[0] == value and type(prior[0]) is type(value):
                continue  # the same reading twice: harmless, the platform keeps one
            when = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            self.bad[prior[1]] = self.retro[prior[1]] = (
                f"{stream}: lands on {when} as line {self.line} does, with another value "
                f"({prior[0]!r} here, {value!r} there); neither is imported"
            )
            self._refuse(
                f"{stream}: lands on {when} as line {prior[1]} does, with another value "
                f"({value!r} here, {prior[0]!r} there); neither is imported"
                + (
                    '; ambiguous = "infer" tells the repeated hour\'s two rows apart by order'
                    if self.ambiguous != "infer"
                    else ""
                )
            )
        self.claims.update(fresh)  # only a good row's cells claim their instants

    def _refuse(self, message: str) -> NoReturn:
        self.bad[self.line] = message
        raise RowProblem(message)

    # -- the end of a pass ---------------------------------------------------------

    def unpaired(self) -> list[tuple[int, str]]:
        """(line, text) of repeated local times seen once so far: their twin may still
        come in a growing file; in a final one they are bad rows (see :meth:`refuse_unpaired`)."""
        return sorted((seen[1], seen[2]) for seen in self.seen.values() if seen[0] == 1)

    def refuse_unpaired(self) -> dict[int, str]:
        """Mark every unpaired repeated local time bad; returns {line: reason}."""
        found = {}
        for line, text in self.unpaired():
            found[line] = self.bad[line] = (
                f"timestamp {text!r} is in the hour that repeats when daylight saving time "
                f"ends in {self.zone}, and the file holds it once: whether it is summer or "
                'standard time cannot be told (ambiguous = "infer" needs both, in order); '
                'set ambiguous = "earlier" or "later" for a file that holds one of them'
            )
        return found


def local_times(config: CsvFolderConfig, deciding: bool, state: str = "") -> LocalTimes:
    """A :class:`LocalTimes` for one pass, per the config's zone and DST keys."""
    zone: tzinfo = UTC if config.timezone == "UTC" else ZoneInfo(config.timezone)
    return LocalTimes(zone, config.ambiguous, config.nonexistent, deciding, state)


def _nth(count: int) -> str:
    return {3: "third", 4: "fourth"}.get(count, f"{count}th")
