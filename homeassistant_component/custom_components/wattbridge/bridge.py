"""One config entry's wattbridge: a Runtime with one sink, fed from HA's state machine.

HA's event loop must never block, and ``emit`` blocks until the readings are durable
(an fsync) or while the outbox is full. State changes are therefore converted in the
loop (cheap), queued in memory, and emitted in batches by one executor job at a time,
in order. Stopping drains that queue into the outbox before the runtime stops, so an
unload or an HA restart loses nothing that HA reported; what changed while the entry
was not running is read from HA's recorder at start (``recorded.py``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, State, callback
from homeassistant.util import dt as dt_util

from wattbridge import Reading, Stopping, write_private
from wattbridge.commands import (
    DEFAULT_PLUGINS,
    Config,
    OpenedSink,
    RedactingFilter,
    Registry,
    Runtime,
    config_from_data,
    load_plugins,
)
from wattbridge_plugins.sources.homeassistant import (
    DeliveredTimes,
    EntitySelection,
    StateConverter,
    parse_time,
)

from . import plugin
from .const import (
    CONF_RESOLUTION,
    CONF_SINK,
    CONF_SINK_TYPE,
    CONF_STREAM_NAMES,
    DOMAIN,
    SELECTION_KEYS,
    SINK_NAME,
    SOURCE_NAME,
    SOURCE_PLUGIN,
)
from .recorded import (
    async_hourly_statistics,
    async_recorded_changes,
    async_recorded_history,
)

if TYPE_CHECKING:
    # In homeassistant.core from HA 2024.5 on; only type checkers read it.
    from homeassistant.core import EventStateChangedData

_LOGGER = logging.getLogger(__package__)

EMIT_BATCH = 1000

BUILTIN_SINKS = tuple(name for name in DEFAULT_PLUGINS if ".sinks." in name)
"""wattbridge's built-in plugins the component loads: the sinks (and their sandboxes).
Inside HA the readings come from HA itself, so no built-in source is loaded, and
none of their libraries (pymodbus, ...) is needed in HA's environment."""


def load_registry() -> Registry:
    """wattbridge's sinks, installed plugins and this integration's source (blocking:
    imports)."""
    registry = load_plugins(extra=[plugin], builtins=BUILTIN_SINKS)
    redact_wattbridge_logs()
    return registry


_REDACTING = RedactingFilter()


def redact_wattbridge_logs() -> None:
    """Put wattbridge's secret-redacting filter on wattbridge's loggers.

    ``wattbridge run`` redacts in its log handler; inside HA the handlers are HA's, so
    the filter goes on each wattbridge logger instead (a logger's filters do not reach
    its children, hence each one; the runtime's per-sink and per-source loggers are
    named here before they exist). Global logging set-up is left alone.
    """
    names = [
        name
        for name in logging.root.manager.loggerDict
        if name.split(".")[0] in ("wattbridge", "wattbridge_plugins", __package__)
    ]
    names += [
        "wattbridge._runtime",
        "wattbridge._bus",
        f"wattbridge.sink.{SINK_NAME}",
        f"wattbridge.source.{SOURCE_NAME}",
        str(__package__),
    ]
    for name in names:
        logger = logging.getLogger(name)
        if _REDACTING not in logger.filters:
            logger.addFilter(_REDACTING)


def state_dir(hass: HomeAssistant, entry_id: str) -> Path:
    """Where an entry's outbox and sink state live: inside HA's config folder."""
    return Path(hass.config.path(".storage", DOMAIN, entry_id))


def build_config(registry: Registry, folder: Path, sink_type: str, sink: dict[str, Any]) -> Config:
    """The runtime's config for one sink; raises wattbridge's ConfigError."""
    data = {
        "wattbridge": {"state_dir": str(folder)},
        "sources": {SOURCE_NAME: {"plugin": SOURCE_PLUGIN}},
        "sinks": {SINK_NAME: {"plugin": sink_type, **sink}},
        "routes": [{"from": SOURCE_NAME, "to": SINK_NAME}],
    }
    return config_from_data(data, folder / "wattbridge.toml", registry)


def selection_of(options: dict[str, Any]) -> EntitySelection:
    """The entity selection stored in an entry's options."""
    return EntitySelection(**{key: tuple(options.get(key) or ()) for key in SELECTION_KEYS})


def truncate(reading: Reading, resolution: str) -> Reading:
    """``reading`` with its timestamp cut to whole seconds or minutes ("exact": as is)."""
    if resolution == "second":
        return attrs.evolve(reading, timestamp=reading.timestamp.replace(microsecond=0))
    if resolution == "minute":
        timestamp = reading.timestamp.replace(second=0, microsecond=0)
        return attrs.evolve(reading, timestamp=timestamp)
    return reading


@attrs.frozen
class Pending:
    """A reading on its way to the outbox, with the state change it came from."""

    reading: Reading
    entity_id: str
    changed: datetime


class Bridge:
    """Runs wattbridge for one config entry; see the module doc."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, registry: Registry) -> None:
        self.hass = hass
        self.entry = entry
        self.registry = registry
        self.folder = state_dir(hass, entry.entry_id)
        self.converter = StateConverter(selection_of(dict(entry.options)), _LOGGER)
        self.resolution = str(entry.options.get(CONF_RESOLUTION, "exact"))
        self.stream_names: dict[str, str] = dict(entry.options.get(CONF_STREAM_NAMES, {}))
        self.runtime: Runtime | None = None
        self._pending: deque[Pending] = deque()
        self.delivered = DeliveredTimes(self.folder / "delivered.json", _LOGGER)
        """Each entity's time of the last state change whose reading is in the outbox."""
        self._lock = threading.Lock()
        # Held across take-and-emit: a flush service call and a drain job may both
        # drain, and readings must reach the outbox in the order HA reported them.
        self._emit_lock = threading.Lock()
        self._draining = False
        self._unsubscribe: CALLBACK_TYPE | None = None
        self._drain_done = threading.Event()
        self._drain_done.set()

    @property
    def sink(self) -> OpenedSink:
        """The entry's sink with its outbox (only while running)."""
        assert self.runtime is not None
        return self.runtime.opened[SINK_NAME]

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Build and start the runtime (blocking: run it in the executor)."""
        config = build_config(
            self.registry,
            self.folder,
            self.entry.data[CONF_SINK_TYPE],
            dict(self.entry.data[CONF_SINK]),
        )
        self.load_last_seen()
        if not self.delivered.load():
            # An entry from before delivered.json: start from last_seen.json's times.
            self.delivered.update(
                (entity, when)
                for entity, (_value, text) in self.converter.last_seen().items()
                if (when := parse_time(text)) is not None
            )
        runtime = Runtime(config, self.registry)
        try:
            runtime.start()  # which lifts a halt (after a reauth, or HA's restart)
        except BaseException:
            runtime.stop()
            raise
        self.runtime = runtime

    @property
    def _last_seen_file(self) -> Path:
        return self.folder / "last_seen.json"

    def load_last_seen(self) -> None:
        """What was sent before the last stop, so the first read does not resend it
        (blocking). A missing or damaged file only costs harmless repeats."""
        try:
            data = json.loads(self._last_seen_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict):
            self.converter.remember(data)

    def _save_last_seen(self) -> None:
        try:
            write_private(self._last_seen_file, json.dumps(self.converter.last_seen()))
        except OSError:
            _LOGGER.warning("could not save %s", self._last_seen_file, exc_info=True)

    async def async_listen(self) -> None:
        """Follow state changes, after taking what was missed while not running.

        The listener comes first and buffers; then each selected entity's recorded
        changes since the last reading taken from it (HA's recorder), then the current
        states, then what the listener buffered meanwhile. A change may so be taken
        twice (the converter drops an exact repeat; a platform keeps one value per
        timestamp), never zero times.
        """
        buffered: list[State] = []

        @callback
        def buffer(event: Event[EventStateChangedData]) -> None:
            new_state = event.data.get("new_state")
            if new_state is not None:
                buffered.append(new_state)

        self._unsubscribe = self.hass.bus.async_listen(EVENT_STATE_CHANGED, buffer)
        current = [
            state
            for state in self.hass.states.async_all()
            if self.converter.selected(state.entity_id, state.attributes)
        ]
        since = self.delivered.start_for(state.entity_id for state in current)
        if since:
            missed = await async_recorded_changes(self.hass, since, since, dt_util.utcnow())
            # The state at each start time is the one already delivered.
            self.take_states(s for s in missed if s.last_changed > since[s.entity_id])
        self.take_states(current)
        self.async_unlisten()
        self.take_states(buffered)
        self._unsubscribe = self.hass.bus.async_listen(EVENT_STATE_CHANGED, self._changed)
        self._schedule_drain()

    @callback
    def take_states(self, states: Iterable[State]) -> int:
        """Queue the selected ones of ``states`` (any order: each entity's are sorted
        by time) and schedule their emit; returns the readings made."""
        before = self.converter.converted
        for state in sorted(states, key=lambda state: state.last_changed):
            if self.converter.selected(state.entity_id, state.attributes):
                self._take(state.as_dict())
        self._schedule_drain()
        return self.converter.converted - before

    def stop(self) -> None:
        """Emit what is still pending, then stop the runtime (blocking)."""
        self._drain_done.wait(60)
        self._drain()
        if self._pending:
            # Only when stopping while the outbox was full. These are not in the outbox;
            # not saving what was seen makes the next start read their entities again.
            _LOGGER.warning(
                "%d reading(s) could not be queued before stopping (outbox full); "
                "their entities' current states are read again at the next start",
                len(self._pending),
            )
        else:
            self._save_last_seen()
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            runtime.stop()

    @callback
    def async_unlisten(self) -> None:
        """Stop following state changes."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- state changes -----------------------------------------------------------

    @callback
    def _changed(self, event: Event[EventStateChangedData]) -> None:
        new_state = event.data.get("new_state")
        if new_state is None:
            return  # the entity was removed
        if not self.converter.selected(new_state.entity_id, new_state.attributes):
            return
        self._take(new_state.as_dict())
        self._schedule_drain()

    @callback
    def _take(self, state: Any) -> None:
        reading = self.converter.convert(state)
        if reading is not None:
            pending = Pending(self.prepared(reading), reading.stream, reading.timestamp)
            with self._lock:
                self._pending.append(pending)

    def prepared(self, reading: Reading) -> Reading:
        """A reading of an entity as the platform gets it: its timestamp cut to the
        entry's resolution, its stream renamed as the entry's stream names say."""
        reading = truncate(reading, self.resolution)
        name = self.stream_names.get(reading.stream)
        return attrs.evolve(reading, stream=name) if name is not None else reading

    @callback
    def _schedule_drain(self) -> None:
        with self._lock:
            if self._draining or not self._pending:
                return
            self._draining = True
            self._drain_done.clear()
        self.hass.async_add_executor_job(self._drain_job)

    def _drain_job(self) -> None:
        try:
            self._drain()
        finally:
            with self._lock:
                self._draining = False
                more = bool(self._pending)
            self._drain_done.set()
            if more and self._unsubscribe is not None:
                self.hass.add_job(self._schedule_drain)

    def _drain(self) -> None:
        """Emit pending readings in batches until none is left (blocking)."""
        with self._emit_lock:
            while True:
                runtime = self.runtime
                with self._lock:
                    size = min(EMIT_BATCH, len(self._pending))
                    batch = [self._pending.popleft() for _ in range(size)]
                if not batch:
                    return
                if runtime is None:  # stopped: keep them for a later drain
                    with self._lock:
                        self._pending.extendleft(reversed(batch))
                    return
                try:
                    runtime.emit(SOURCE_NAME, [pending.reading for pending in batch])
                except Stopping:
                    with self._lock:
                        self._pending.extendleft(reversed(batch))
                    return
                runtime.count(SOURCE_NAME, "readings", len(batch))
                # Durable in the outbox now: after a crash from here on, the recorder
                # is read from these changes' times, not from an older one.
                self.delivered.update((pending.entity_id, pending.changed) for pending in batch)
                self.delivered.save()

    # -- services and status ---------------------------------------------------

    async def async_backfill(
        self, start: datetime, end: datetime, *, statistics: bool = True
    ) -> dict[str, int]:
        """Send the selected entities' recorded states between ``start`` and ``end``
        and, with ``statistics``, the hourly long-term statistics of the selected energy
        sensors (the state at each hour's end); returns how many of each were queued.

        A repeat of a reading already sent is harmless: a platform keeps one value per
        stream and time.
        """
        if self.runtime is None:
            raise RuntimeError("wattbridge is not running")
        current = {
            state.entity_id: state
            for state in self.hass.states.async_all()
            if self.converter.selected(state.entity_id, state.attributes)
        }
        recorded = await async_recorded_history(self.hass, current, start, end)
        # A converter of its own: the live one's repeat check and counters stay as they are.
        converter = StateConverter(self.converter.selection, _LOGGER)
        ordered = sorted(recorded, key=lambda state: state.last_changed)
        readings = [self.prepared(r) for r in converter.convert_all(s.as_dict() for s in ordered)]
        counts = {"states": len(readings), "statistics": 0}
        if statistics:
            energy = {
                entity_id: state
                for entity_id, state in current.items()
                if state.attributes.get("device_class") == "energy"
            }
            series = await async_hourly_statistics(self.hass, energy, start, end)
            for entity_id, pairs in series.items():
                unit = energy[entity_id].attributes.get("unit_of_measurement")
                for when, value in pairs:
                    reading = Reading(
                        stream=entity_id,
                        timestamp=when,
                        value=value,
                        unit=unit if isinstance(unit, str) else "",
                    )
                    readings.append(self.prepared(reading))
                    counts["statistics"] += 1
        await self.hass.async_add_executor_job(self._emit_now, readings)
        return counts

    def _emit_now(self, readings: list[Reading]) -> None:
        """Put readings in the outbox now, in batches (blocking)."""
        with self._emit_lock:
            for first in range(0, len(readings), EMIT_BATCH):
                runtime = self.runtime
                if runtime is None:
                    raise RuntimeError("wattbridge stopped during the backfill")
                batch = readings[first : first + EMIT_BATCH]
                runtime.emit(SOURCE_NAME, batch)
                runtime.count(SOURCE_NAME, "backfilled", len(batch))

    def flush(self) -> int:
        """Send what is due now (blocking); returns readings settled."""
        self._drain()
        return self.runtime.flush_all() if self.runtime is not None else 0

    def replay_dead_letters(self) -> int:
        """Move every dead letter back to the queue and send (blocking)."""
        moved = self.sink.replay()
        self.flush()
        return moved

    def counts(self) -> dict[str, int]:
        """Readings made and states skipped, by reason."""
        return {"readings": self.converter.converted, **dict(self.converter.skipped)}
