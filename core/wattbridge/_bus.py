"""The bus: readings from sources are routed (stream names mapped), transformed by
plugins, and put durably into the outbox of every sink their routes name.

``emit`` returns only when the readings are durable in all those outboxes; that is
the moment a source may acknowledge its input. A reading that no route takes is
counted and reported once, never dropped silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from wattbridge._config import Route
from wattbridge._errors import Stopping
from wattbridge._outbox import Outbox
from wattbridge._readings import Reading, with_names
from wattbridge._stats import Stats

log = logging.getLogger("wattbridge._bus")

Credential = Callable[[Reading], str]


class Bus:
    """Routes readings from named sources to the outboxes of named sinks."""

    def __init__(
        self,
        routes: Sequence[Route],
        outboxes: Mapping[str, Outbox],
        *,
        credentials: Mapping[str, Credential] | None = None,
        transform_hook: Any = None,
        on_queued: Callable[[str], None] | None = None,
        stats: Stats | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.outboxes = outboxes
        self.credentials = dict(credentials or {})
        self.on_queued = on_queued
        self.stats = stats or Stats()
        self.stopping = stopping or threading.Event()
        self._transforms = (
            [impl.function for impl in reversed(transform_hook.get_hookimpls())]
            if transform_hook is not None
            else []
        )
        # source -> [(sinks, mapping or None)]
        self._routes: dict[str, list[tuple[tuple[str, ...], Mapping[str, str] | None]]] = (
            defaultdict(list)
        )
        for route in routes:
            for source in route.sources:
                self._routes[source].append((route.sinks, route.streams))
        self.last_emit = time.monotonic()
        """When readings were last queued (monotonic clock), for ``run --until-idle``."""
        self._warned: set[tuple[str, str]] = set()
        self._warned_lock = threading.Lock()

    def targets(self, source: str) -> set[str]:
        """The sinks that readings of ``source`` may reach."""
        return {sink for sinks, _ in self._routes.get(source, []) for sink in sinks}

    def has_room(self, source: str) -> bool:
        """True while every outbox that ``source`` feeds is below its bound."""
        return all(self.outboxes[sink].has_room() for sink in self.targets(source))

    def emit(self, source: str, readings: Iterable[Reading]) -> None:
        """Route and queue ``readings`` from ``source``; return when they are durable.

        Blocks while a target outbox is full; raises :class:`Stopping` if wattbridge
        stops meanwhile (nothing of this call was queued then).
        """
        per_sink = self._route(source, readings)
        if not per_sink:
            return
        for sink in per_sink:
            outbox = self.outboxes[sink]
            while not outbox.has_room():
                if self.stopping.is_set():
                    raise Stopping(f"stopping while the outbox of {sink!r} was full")
                self.stats.add(f"source.{source}.waited_for_room")
                outbox.wait_for_room(0.5)
        for sink, items in per_sink.items():
            credential = self.credentials.get(sink)
            creds = [credential(r) for r in items] if credential is not None else None
            self.outboxes[sink].put(items, creds)
            self.last_emit = time.monotonic()
            if self.on_queued is not None:
                self.on_queued(sink)

    def _route(self, source: str, readings: Iterable[Reading]) -> dict[str, list[Reading]]:
        routes = self._routes.get(source, [])
        if routes and not self._transforms and all(m is None for _, m in routes):
            # The common case, every stream to every sink as named: no per-reading routing.
            items = [r if r.source else with_names(r, r.stream, source) for r in readings]
            return {sink: items for sinks, _ in routes for sink in sinks} if items else {}
        per_sink: dict[str, list[Reading]] = defaultdict(list)
        for emitted in readings:
            reading = emitted if emitted.source else with_names(emitted, emitted.stream, source)
            taken = False
            for sinks, mapping in routes:
                if mapping is None:
                    routed = reading
                else:
                    name = mapping.get(reading.stream)
                    if name is None:
                        continue
                    routed = (
                        reading
                        if name == reading.stream
                        else with_names(reading, name, reading.source)
                    )
                taken = True
                for sink in sinks:
                    final = self._transform(routed, source, sink) if self._transforms else routed
                    if final is not None:
                        per_sink[sink].append(final)
            if not taken:
                self._unrouted(source, reading.stream)
        return per_sink

    def _transform(self, reading: Reading, source: str, sink: str) -> Reading | None:
        for transform in self._transforms:
            result = transform(reading=reading, source=source, sink=sink)
            if result is False:
                self.stats.add(f"sink.{sink}.filtered")
                return None
            if result is not None:
                if not isinstance(result, Reading):
                    raise TypeError(
                        f"wattbridge_transform_reading returned {type(result).__name__}; "
                        "return a Reading, None or False"
                    )
                reading = result
        return reading

    def _unrouted(self, source: str, stream: str) -> None:
        self.stats.add(f"source.{source}.unrouted")
        key = (source, stream)
        with self._warned_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(
            "source %r: stream %r matches no route; its readings are counted as unrouted",
            source,
            stream,
        )
