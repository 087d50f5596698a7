"""What a source plugin implements, and what wattbridge hands it.

A source is either *polled* (it has ``poll()``; the scheduler calls it every
``interval``) or *pushed* (it has ``start(emit)``, which wattbridge runs in a thread of
its own and which blocks until ``stop()`` is called). A source class is constructed as
``SourceClass(config, context)`` with its validated attrs config object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

from wattbridge._errors import PluginError
from wattbridge._readings import Reading
from wattbridge._sinks import optional_method

Emit = Callable[[Iterable[Reading]], None]
"""Hand readings to wattbridge. Returns once they are durable in every outbox their routes
name; blocks while an outbox is full (backpressure); raises :class:`wattbridge.Stopping` if
wattbridge stops while it waits, in which case the source must not acknowledge its input."""


@attrs.frozen
class SourceContext:
    """What wattbridge gives a source: its name, a private state folder and a logger."""

    name: str
    state_dir: Path
    logger: logging.Logger
    has_room: Callable[[], bool] = attrs.field(default=lambda: True)
    """True while every outbox this source's routes feed is below its bound."""
    report_error: Callable[[str, str | None], None] = attrs.field(default=lambda _k, _m: None)
    """``report_error(part, message)`` shows a part's error (a device that does not
    answer) in ``wattbridge status``; ``report_error(part, None)`` clears it."""
    count: Callable[[str, int], None] = attrs.field(default=lambda _name, _n: None)
    """``count(name, n)`` adds ``n`` to the source's counter ``name`` (files done,
    messages refused), shown by ``wattbridge status`` as ``source.NAME.name``."""


@runtime_checkable
class PolledSource(Protocol):
    """A source that wattbridge asks for readings every ``interval``."""

    def poll(self) -> Iterable[Reading]:
        """Return the readings measured now. Raising marks the source failing (backoff)."""
        ...


@runtime_checkable
class PushedSource(Protocol):
    """A source that delivers readings as they arrive, from a thread wattbridge gives it.

    One whose sender cannot be paused without loss (an MQTT broker drops what exceeds
    its queue; Home Assistant drops a slow websocket client) says ``pausable = False``
    in its class: while an outbox it feeds is over ``max_queue``, ``emit`` still takes
    its readings, up to the outbox's ``max_queue_bytes``.
    """

    def start(self, emit: Emit) -> None:
        """Deliver readings with ``emit`` until :meth:`stop` is called; then return.

        Returning early or raising counts as a failure: wattbridge restarts it with backoff.
        """
        ...

    def stop(self) -> None:
        """Ask :meth:`start` to return soon. Called from another thread."""
        ...


class SourceAdapter:
    """A plugin's source with its kind decided once: polled (``poll``) or pushed
    (``start``/``stop``); ``close`` defaults to doing nothing. The core talks only to
    the adapter, never probing the plugin object itself."""

    def __init__(self, source: object) -> None:
        self.plugin = source
        self._poll = optional_method(source, "poll")
        self._start = optional_method(source, "start")
        self._stop = optional_method(source, "stop")
        self._close = optional_method(source, "close")
        self._busy = optional_method(source, "busy")
        if self._poll is None and (self._start is None or self._stop is None):
            raise PluginError(
                f"source {type(source).__name__} has neither poll() nor start(emit) and stop()"
            )

    @property
    def pausable(self) -> bool:
        """False for a pushed source that cannot pause its sender without loss (its
        class says ``pausable = False``): it may fill its outboxes past ``max_queue``."""
        return bool(getattr(self.plugin, "pausable", True))

    @property
    def polled(self) -> bool:
        """True for a polled source, False for a pushed one."""
        return self._poll is not None

    def poll(self) -> Iterable[Reading]:
        """The polled source's readings measured now."""
        assert self._poll is not None, "poll() of a pushed source"
        result: Iterable[Reading] = self._poll()
        return result

    def start(self, emit: Emit) -> None:
        """Run the pushed source until :meth:`stop`."""
        assert self._start is not None, "start() of a polled source"
        self._start(emit)

    def stop(self) -> None:
        """Ask a pushed source to return from :meth:`start` (nothing for a polled one)."""
        if self._stop is not None and self._poll is None:
            self._stop()

    @property
    def busy(self) -> bool:
        """True while the source has work in hand (a pushed source's optional ``busy()``:
        a file being read, say), so ``run --until-idle`` does not stop under it."""
        return self._busy is not None and bool(self._busy())

    def close(self) -> None:
        """Release the source's connections and files."""
        if self._close is not None:
            self._close()
