"""What the wide and long formats share: turning a cell into a reading's value, so that
anything :class:`wattbridge.ReadingColumns` would refuse becomes a bad row, and the
header and width checks of all three formats."""

from __future__ import annotations

from collections.abc import Callable

from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.formats.values import Number, RowProblem, number_parser
from wattbridge_plugins.sources.csv_folder.lines import FileProblem

Value = Number | str


class ValueReader:
    """Reads the value cell of a stream: text for the config's ``strings`` streams,
    numbers for the rest. An empty cell is "" for a text stream and no value (None)
    for a number stream, as EnergyData's import format defines."""

    def __init__(self, config: CsvFolderConfig) -> None:
        self._strings = frozenset(config.strings)
        self._number: Callable[[str], Number] = number_parser(config)

    def is_text(self, stream: str) -> bool:
        """True if ``stream``'s values are text."""
        return stream in self._strings

    def __call__(self, stream: str, text: str) -> Value | None:
        """The value of ``text`` for ``stream``, or None for an empty number cell."""
        if stream in self._strings:
            return text
        if not text.strip():
            return None
        try:
            return self._number(text)
        except RowProblem as exc:
            raise RowProblem(
                f"{stream}: {exc} (list the stream in `strings` if it holds text)"
            ) from None


def check_headers(fields: list[str], line: int) -> None:
    """Refuse a header with an empty or repeated name (after trimming spaces)."""
    seen: set[str] = set()
    for index, name in enumerate(fields):
        if index == 0 and name == "":
            continue  # the energydata format's first header cell is empty by definition
        cleaned = name.strip()
        if cleaned in seen:
            raise FileProblem(line, f"header: column {cleaned!r} appears twice")
        seen.add(cleaned)


def check_width(fields: list[str], width: int) -> None:
    """Refuse a record with another number of fields than the header has; trailing
    empty fields (a delimiter at the end of every line) are harmless."""
    if len(fields) == width:
        return
    if len(fields) < width or any(cell.strip() for cell in fields[width:]):
        raise RowProblem(f"expected {width} fields (as the header), found {len(fields)}")
