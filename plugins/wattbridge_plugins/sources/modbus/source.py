"""The ``modbus`` source: a pushed source that runs one thread per bus.

Why pushed, with a thread per bus, rather than polled: one source may read many
devices on several buses (a TCP meter each, an RS-485 line of twenty meters behind one
gateway). Requests on one bus must be serialised, but buses are independent; a thread
per bus gives each its own schedule, so a slow or dead device delays at most the other
devices of its own bus (and a dead one only once per backoff), never another bus.
"""

from __future__ import annotations

import threading
from collections import Counter

from wattbridge import Emit, SourceContext
from wattbridge_plugins.sources.modbus.config import ModbusConfig
from wattbridge_plugins.sources.modbus.model import BusPlan
from wattbridge_plugins.sources.modbus.poller import BusPoller

RESTART_DELAY = 5.0
"""Seconds before a bus thread that failed unexpectedly starts again."""


class ModbusSource:
    """Reads Modbus devices on their schedules; see the module doc and README.md."""

    def __init__(self, config: ModbusConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context
        self.plans: list[BusPlan] = config.plans
        self.pollers: list[BusPoller] = []
        self._stop = threading.Event()

    @property
    def counters(self) -> Counter[str]:
        """Polls, readings, skipped values, refused registers... summed over the buses."""
        total: Counter[str] = Counter()
        for poller in self.pollers:
            total.update(dict(poller.counters))  # a copy: its bus thread may be adding keys
        return total

    def start(self, emit: Emit) -> None:
        """Poll every bus in a thread of its own until :meth:`stop`."""
        self._stop.clear()
        self.pollers = [
            BusPoller(
                plan,
                emit,
                self.context.logger,
                self._stop,
                self.context.has_room,
                report_error=self.context.report_error,
                count=self.context.count,
            )
            for plan in self.plans
        ]
        threads = [
            threading.Thread(
                target=self._run_bus,
                args=(poller,),
                name=f"modbus:{self.context.name}:{poller.plan.link.label}",
                daemon=True,
            )
            for poller in self.pollers
        ]
        for thread in threads:
            thread.start()
        self._stop.wait()
        for thread in threads:
            thread.join(10)
            if thread.is_alive():
                self.context.logger.warning("%s did not stop in time", thread.name)

    def _run_bus(self, poller: BusPoller) -> None:
        while not self._stop.is_set():
            try:
                poller.run()
                return
            except Exception:
                # A bug or a full disk must not end one bus for good, nor touch the others.
                self.context.logger.exception(
                    "polling %s failed; starting again in %.0fs",
                    poller.plan.link.label,
                    RESTART_DELAY,
                )
                self._stop.wait(RESTART_DELAY)

    def stop(self) -> None:
        """Make :meth:`start` return (bus threads finish their current request)."""
        self._stop.set()

    def close(self) -> None:
        """Close every connection."""
        for poller in self.pollers:
            poller.client.close()
