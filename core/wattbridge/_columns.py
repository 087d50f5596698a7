"""Readings as columns: how a bulk source hands many readings to the bus, and how the
outbox hands them to a sink (issue 17).

One :class:`~wattbridge.Reading` object a value costs more than everything else a bulk
import does with it. :class:`ReadingColumns` holds the same readings as five lists
(streams, epoch microseconds, values, units, sources), validated once when built, as a
``Reading`` is; the outbox stores them as one segment and gives them back as columns,
and a sink that formats from columns never makes a ``Reading``. It is also a
``Sequence[Reading]``: code written for readings (a plugin's sink, a transform) gets
them, built once on first use.

Timestamps are whole microseconds since the Unix epoch (UTC), the precision of a
``Reading``'s datetime and of the outbox, so nothing is rounded on the way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import cast, overload

from wattbridge._readings import (
    InvalidReading,
    Reading,
    Value,
    storable_text,
    to_epoch_us,
    to_value,
    trusted_readings,
)

# The instants a datetime can hold, as epoch microseconds (years 1 to 9999).
_FIRST_US = -62_135_596_800_000_000
_LAST_US = 253_402_300_799_999_999


class ReadingColumns(Sequence[Reading]):
    """Readings as columns: ``streams[i]``, ``stamps[i]`` (epoch microseconds, UTC),
    ``values[i]``, ``units[i]`` and ``sources[i]`` are reading ``i``.

    Built with the constructor (or :meth:`of`), every field is checked as
    :class:`~wattbridge.Reading` checks it, and the error names the position; a bool
    value becomes 0 or 1. The columns are the object's own lists: do not change them
    after building. Indexing and iterating give ``Reading`` objects (made once, then
    kept), slicing gives columns.
    """

    __slots__ = ("_readings", "sources", "stamps", "streams", "units", "values")

    streams: list[str]
    stamps: list[int]
    values: list[Value]
    units: list[str]
    sources: list[str]

    def __init__(
        self,
        streams: Iterable[str],
        stamps: Iterable[int],
        values: Iterable[object],
        units: Iterable[str],
        sources: Iterable[str],
    ) -> None:
        streams, stamps, units, sources = list(streams), list(stamps), list(units), list(sources)
        checked = _checked_values(list(values))
        size = len(streams)
        if not len(stamps) == len(checked) == len(units) == len(sources) == size:
            raise InvalidReading(
                f"columns of unequal length: {size} streams, {len(stamps)} timestamps, "
                f"{len(checked)} values, {len(units)} units, {len(sources)} sources"
            )
        _check_names("stream", streams, empty=False)
        _check_stamps(stamps)
        _check_names("unit", units, empty=True)
        _check_names("source", sources, empty=True)
        self._set(streams, stamps, checked, units, sources)

    def _set(
        self,
        streams: list[str],
        stamps: list[int],
        values: list[Value],
        units: list[str],
        sources: list[str],
    ) -> None:
        self.streams, self.stamps, self.values = streams, stamps, values
        self.units, self.sources = units, sources
        self._readings: list[Reading] | None = None

    @classmethod
    def of(
        cls,
        streams: Iterable[str],
        stamps: Iterable[int],
        values: Iterable[object],
        *,
        unit: str = "",
        source: str = "",
    ) -> ReadingColumns:
        """Checked columns whose readings share one unit and one source."""
        streams = list(streams)
        return cls(streams, stamps, values, [unit] * len(streams), [source] * len(streams))

    @classmethod
    def trusted(
        cls,
        streams: list[str],
        stamps: list[int],
        values: list[Value],
        units: list[str],
        sources: list[str],
    ) -> ReadingColumns:
        """Columns that were checked before (by this class, or read back from where
        wattbridge stored them): no checks, no copies. For the core's hot paths and for
        a source that has checked every field itself, as :func:`trusted_readings` is."""
        columns = cls.__new__(cls)
        columns._set(streams, stamps, values, units, sources)
        return columns

    @classmethod
    def from_readings(cls, readings: Iterable[Reading]) -> ReadingColumns:
        """The columns of readings (checked when they were made)."""
        if isinstance(readings, ReadingColumns):
            return readings
        items = list(readings)
        stamps: list[int] = []
        append = stamps.append
        last = None
        last_us = 0
        for reading in items:
            # Readings of one row or poll share their datetime: convert it once.
            if reading.timestamp is not last:
                last = reading.timestamp
                last_us = to_epoch_us(last)
            append(last_us)
        columns = cls.trusted(
            [r.stream for r in items],
            stamps,
            [r.value for r in items],
            [r.unit for r in items],
            [r.source for r in items],
        )
        columns._readings = items
        return columns

    @classmethod
    def joined(cls, parts: Iterable[ReadingColumns]) -> ReadingColumns:
        """One columns object holding ``parts``' readings, in order."""
        streams: list[str] = []
        stamps: list[int] = []
        values: list[Value] = []
        units: list[str] = []
        sources: list[str] = []
        for part in parts:
            streams += part.streams
            stamps += part.stamps
            values += part.values
            units += part.units
            sources += part.sources
        return cls.trusted(streams, stamps, values, units, sources)

    def named(self, source: str) -> ReadingColumns:
        """These readings with ``source`` where they have none (what the bus does to a
        source's readings); ``self`` when every one has a source."""
        if all(self.sources):
            return self
        sources = [name or source for name in self.sources]
        return ReadingColumns.trusted(self.streams, self.stamps, self.values, self.units, sources)

    def readings(self) -> list[Reading]:
        """The readings as objects, made on first use and kept."""
        if self._readings is None:
            self._readings = trusted_readings(
                self.streams, self.stamps, self.values, self.units, self.sources
            )
        return self._readings

    def __len__(self) -> int:
        return len(self.streams)

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> ReadingColumns: ...

    def __getitem__(self, index: int | slice) -> Reading | ReadingColumns:
        if isinstance(index, slice):
            return ReadingColumns.trusted(
                self.streams[index], self.stamps[index], self.values[index],
                self.units[index], self.sources[index],
            )  # fmt: skip
        return self.readings()[index]

    def __iter__(self) -> Iterator[Reading]:
        return iter(self.readings())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ReadingColumns):
            return (
                self.streams == other.streams
                and self.stamps == other.stamps
                and _same_values(self.values, other.values)
                and self.units == other.units
                and self.sources == other.sources
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable lists inside

    def __repr__(self) -> str:
        return f"<ReadingColumns of {len(self)} readings>"


def _same_values(left: list[Value], right: list[Value]) -> bool:
    # 1 == 1.0 in Python, but a reading's value keeps its type (an integer datastream).
    return left == right and all(type(a) is type(b) for a, b in zip(left, right, strict=True))


def _checked_values(values: list[object]) -> list[Value]:
    """``values`` with each one checked as :func:`to_value` checks it (in place).

    The common columns (all floats, or all ints) are checked by builtins running in C:
    a sum of floats is finite only when every one is, and min and max bound the ints;
    anything else, or a failed check, goes value by value to find and name the culprit.
    """
    kinds = set(map(type, values))
    numbers = cast(list[float], values)  # when kinds says so
    if kinds == {float} and math.isfinite(sum(numbers)):
        return values  # type: ignore[return-value]  # every one a finite float
    if kinds == {int} and min(numbers) >= -(2**63) and max(numbers) < 2**63:
        return values  # type: ignore[return-value]  # every one a 64-bit int
    for position, value in enumerate(values):
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):  # type: ignore[arg-type]
                raise InvalidReading(f"values[{position}]: {value!r} is not a finite number")
        elif kind is not int or not -(2**63) <= value < 2**63:  # type: ignore[operator]
            try:
                values[position] = to_value(value)
            except InvalidReading as exc:
                raise InvalidReading(f"values[{position}]: {exc}") from None
    return values  # type: ignore[return-value]  # every one checked above


def _check_stamps(stamps: list[int]) -> None:
    if set(map(type, stamps)) - {int}:
        position, stamp = next((i, s) for i, s in enumerate(stamps) if type(s) is not int)
        raise InvalidReading(
            f"stamps[{position}]: {stamp!r} is not whole microseconds since the epoch"
        )
    if stamps and (min(stamps) < _FIRST_US or max(stamps) > _LAST_US):
        bad = next(i for i, s in enumerate(stamps) if not _FIRST_US <= s <= _LAST_US)
        raise InvalidReading(f"stamps[{bad}]: {stamps[bad]} is outside the years 1 to 9999")


def _check_names(field: str, names: list[str], *, empty: bool) -> None:
    # Few distinct names, many readings: check each distinct one once.
    try:
        distinct: Iterable[object] = set(names)
    except TypeError:  # something unhashable, so not a str: found below
        distinct = names
    for name in distinct:
        if not isinstance(name, str) or (not empty and not name.strip()):
            position = names.index(name)  # type: ignore[arg-type]
            what = "a non-empty string" if not empty else "a string"
            raise InvalidReading(f"{field}s[{position}]: must be {what}, not {name!r}")
        try:
            storable_text(field, name)
        except InvalidReading as exc:
            raise InvalidReading(f"{field}s[{names.index(name)}]: {exc}") from None
