"""Home Assistant states to readings: which entities are taken, and how a state becomes
a reading. Pure functions and small classes with no I/O, shared by the websocket source
and the custom component (which reads HA's state machine directly).

A state is anything Home Assistant may send: the functions here never raise on odd
input. Every state that does not become a reading is counted under a reason
(:data:`SKIP_REASONS`) and logged once per entity and reason, so a user can see why an
entity is missing without a log line per state change.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from wattbridge import InvalidReading, Reading

UNAVAILABLE_STATES = frozenset({"unknown", "unavailable", "none", ""})
"""States HA uses for "no value now": skipped and counted, never turned into 0."""

SKIP_REASONS = ("unavailable", "not_numeric", "malformed", "unchanged")

# HA writes numbers as plain decimals ("1234", "-0.5", "1e3" from some integrations).
_INT = re.compile(r"[+-]?\d+")
_ENTITY_ID = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+")


@attrs.frozen
class EntitySelection:
    """Which entities are read. Includes widen from nothing, excludes then narrow.

    With no include at all, every entity is taken; with any include, an entity must
    match at least one of them (by entity id or glob, domain, or device class). An
    entity that matches any exclude is dropped, whatever its includes say.
    """

    include_entities: tuple[str, ...] = ()
    include_domains: tuple[str, ...] = ()
    include_device_classes: tuple[str, ...] = ()
    exclude_entities: tuple[str, ...] = ()
    exclude_domains: tuple[str, ...] = ()
    exclude_device_classes: tuple[str, ...] = ()

    @property
    def has_includes(self) -> bool:
        """True if any include is set."""
        return bool(self.include_entities or self.include_domains or self.include_device_classes)

    def matches(self, entity_id: str, device_class: object) -> bool:
        """True if ``entity_id`` (with its ``device_class`` attribute) is selected."""
        domain = entity_id.split(".", 1)[0]
        if _any_glob(entity_id, self.exclude_entities) or domain in self.exclude_domains:
            return False
        if isinstance(device_class, str) and device_class in self.exclude_device_classes:
            return False
        if not self.has_includes:
            return True
        return (
            _any_glob(entity_id, self.include_entities)
            or domain in self.include_domains
            or (isinstance(device_class, str) and device_class in self.include_device_classes)
        )


def _any_glob(entity_id: str, patterns: Iterable[str]) -> bool:
    # fnmatchcase: entity ids are lower case; a pattern's case is the user's intent.
    return any(fnmatch.fnmatchcase(entity_id, pattern) for pattern in patterns)


def parse_number(text: str) -> int | float | None:
    """The number HA's state string holds, or None (NaN and infinities are not numbers)."""
    text = text.strip()
    try:
        if _INT.fullmatch(text):
            # int() refuses more than 4300 digits (ValueError); such a state is no number.
            return int(text)
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from HA's ISO 8601 text (or epoch seconds), or None."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC) if math.isfinite(value) else None
        if not isinstance(value, str):
            return None
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return None  # HA always sends UTC offsets; a naive time is not one of its states
        return parsed.astimezone(UTC)  # overflows for year 1 with a positive offset
    except (ValueError, OverflowError, OSError):
        return None


class StateConverter:
    """Turns HA state objects into readings, counting and logging what it skips.

    ``state`` objects are the dicts HA sends (``entity_id``, ``state``, ``attributes``,
    ``last_changed``). The converter remembers the last (value, time) it gave for each
    entity, so the current states read after a reconnect do not repeat readings already
    emitted (a repeat would be harmless, the platforms keep one value per time, but it
    costs a send).
    """

    def __init__(self, selection: EntitySelection, logger: logging.Logger) -> None:
        self.selection = selection
        self.logger = logger
        self.skipped: Counter[str] = Counter()
        self.converted = 0
        self._last: dict[str, tuple[object, datetime]] = {}
        self._logged: set[tuple[str, str]] = set()

    def selected(self, entity_id: object, attributes: object) -> bool:
        """True if the entity is one the selection takes (False for a malformed id)."""
        if not isinstance(entity_id, str) or not _ENTITY_ID.fullmatch(entity_id):
            return False
        device_class = attributes.get("device_class") if isinstance(attributes, Mapping) else None
        return self.selection.matches(entity_id, device_class)

    def convert(self, state: object) -> Reading | None:
        """The reading for one state object, or None (skipped, counted and logged).

        Never raises: a state that trips an unforeseen error is skipped as
        ``malformed`` with that error as its reason, so one odd state cannot stop the
        source (and, with it, every entity's readings)."""
        try:
            return self._convert(state)
        except Exception as exc:  # a bug on odd input must not end the subscription
            entity_id = state.get("entity_id") if isinstance(state, Mapping) else None
            name = entity_id if isinstance(entity_id, str) and len(entity_id) <= 255 else "?"
            self._skip(name, "malformed", f"{type(exc).__name__}: {str(exc)[:200]}")
            return None

    def _convert(self, state: object) -> Reading | None:
        if not isinstance(state, Mapping):
            self._skip("?", "malformed", f"a state must be an object, not {type(state).__name__}")
            return None
        entity_id = state.get("entity_id")
        attributes = state.get("attributes")
        if not isinstance(attributes, Mapping):
            attributes = {}
        if not isinstance(entity_id, str) or not _ENTITY_ID.fullmatch(entity_id):
            self._skip("?", "malformed", f"entity_id {entity_id!r} is not an entity id")
            return None
        if not self.selection.matches(entity_id, attributes.get("device_class")):
            return None  # not selected: not a skip, the user asked for it
        raw = state.get("state")
        if not isinstance(raw, str):
            self._skip(entity_id, "malformed", f"state {raw!r} is not a string")
            return None
        if raw.strip().lower() in UNAVAILABLE_STATES:
            self._skip(entity_id, "unavailable", f"state is {raw!r}")
            return None
        value = parse_number(raw)
        if value is None:
            self._skip(entity_id, "not_numeric", f"state {raw[:40]!r} is not a number")
            return None
        timestamp = parse_time(state.get("last_changed"))
        if timestamp is None:
            self._skip(entity_id, "malformed", "last_changed is missing or not a time")
            return None
        if self._last.get(entity_id) == (value, timestamp):
            self.skipped["unchanged"] += 1
            return None
        unit = attributes.get("unit_of_measurement")
        try:
            reading = Reading(
                stream=entity_id,
                timestamp=timestamp,
                value=value,
                unit=unit if isinstance(unit, str) else "",
            )
        except InvalidReading as exc:  # e.g. a time before year 1 after UTC conversion
            self._skip(entity_id, "malformed", str(exc))
            return None
        self._last[entity_id] = (value, timestamp)
        self.converted += 1
        return reading

    def last_seen(self) -> dict[str, tuple[object, str]]:
        """Each entity's last converted (value, ISO time), to save across restarts."""
        return {entity: (value, when.isoformat()) for entity, (value, when) in self._last.items()}

    def remember(self, last_seen: Mapping[str, Any]) -> None:
        """Take back :meth:`last_seen`'s mapping (ignoring entries that do not parse),
        so states read again after a restart are not sent twice."""
        for entity_id, pair in last_seen.items():
            if isinstance(pair, list | tuple) and len(pair) == 2:
                when = parse_time(pair[1])
                if when is not None:
                    self._last[str(entity_id)] = (pair[0], when)

    def convert_all(self, states: Iterable[object]) -> list[Reading]:
        """Readings for many state objects, in order, skipping as :meth:`convert` does."""
        readings = []
        for state in states:
            reading = self.convert(state)
            if reading is not None:
                readings.append(reading)
        return readings

    def _skip(self, entity_id: str, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        key = (entity_id, reason)
        if key in self._logged:
            self.logger.debug("%s skipped (%s): %s", entity_id, reason, detail)
            return
        if len(self._logged) < 10_000:  # bounded: odd input must not grow memory forever
            self._logged.add(key)
        self.logger.info(
            "%s skipped (%s): %s; further skips of it are counted, not logged",
            entity_id,
            reason,
            detail,
        )


def state_changed_new_state(message: object) -> tuple[bool, object]:
    """From a websocket ``event`` message of a ``state_changed`` event, its new state.

    Returns ``(True, new_state)`` for a state_changed event (``new_state`` may be None
    when the entity was removed), ``(False, None)`` for anything else.
    """
    if not isinstance(message, Mapping):
        return False, None
    event = message.get("event")
    if not isinstance(event, Mapping) or event.get("event_type") != "state_changed":
        return False, None
    data = event.get("data")
    if not isinstance(data, Mapping):
        return True, None
    return True, data.get("new_state")


def selection_from(config: Any) -> EntitySelection:
    """An :class:`EntitySelection` from any object with the six list fields."""
    return EntitySelection(
        include_entities=tuple(config.include_entities),
        include_domains=tuple(config.include_domains),
        include_device_classes=tuple(config.include_device_classes),
        exclude_entities=tuple(config.exclude_entities),
        exclude_domains=tuple(config.exclude_domains),
        exclude_device_classes=tuple(config.exclude_device_classes),
    )
