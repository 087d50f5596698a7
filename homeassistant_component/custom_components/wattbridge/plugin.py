"""A wattbridge plugin that only this integration loads: the source HA's states feed.

Inside Home Assistant the readings come from HA's own state machine (an event
listener), not over the websocket API. The runtime still needs a named source for
its routes; this one does nothing but wait, and the bridge emits in its name.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

from wattbridge import Emit, SourceContext, hookimpl

from .const import SOURCE_PLUGIN


@attrs.frozen
class StateMachineConfig:
    """The source has no keys: the entity selection is the integration's options."""


class StateMachineSource:
    """A pushed source that waits; the integration emits HA's states in its name."""

    def __init__(self, config: StateMachineConfig, context: SourceContext) -> None:
        self._stop = threading.Event()

    def start(self, emit: Emit) -> None:
        """Wait until stopped (the readings are emitted by the bridge)."""
        self._stop.wait()

    def stop(self) -> None:
        """Make :meth:`start` return."""
        self._stop.set()


@hookimpl
def wattbridge_register_sources(register: Any) -> None:
    """Register the state-machine source."""
    register(SOURCE_PLUGIN, StateMachineSource, StateMachineConfig)
