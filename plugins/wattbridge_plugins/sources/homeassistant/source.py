"""The ``homeassistant`` source: state changes of selected entities, over HA's websocket
API, as readings.

On each connection it subscribes to ``state_changed`` events first and then reads the
current states (``get_states``), so none that changes after is missed between the two.
What changed while it was not connected (a dropped connection, an HA restart, a
restart of wattbridge) is read from HA's recorder: for each selected entity, every
state change recorded since the last one whose reading is in the outbox (kept in
``delivered.json`` in the source's state folder), with ``history/history_during_period``.
From the subscription until get_states and that history read are answered, the
readings of new events are held back and sent after the older changes, so that the
saved times never pass a change not yet delivered.

It reconnects with doubling backoff; a refused token is not retried here but raised,
as a clear error (the runtime restarts the source with its own, longer backoff).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from wattbridge import Emit, Reading, SourceContext, warn_plain_text
from wattbridge_plugins.sources.homeassistant.client import (
    CONNECTION_ERRORS,
    HomeAssistantClient,
    ProtocolError,
)
from wattbridge_plugins.sources.homeassistant.config import HomeAssistantConfig
from wattbridge_plugins.sources.homeassistant.delivered import DeliveredTimes
from wattbridge_plugins.sources.homeassistant.history import history_command, states_from_history
from wattbridge_plugins.sources.homeassistant.states import (
    StateConverter,
    selection_from,
    state_changed_new_state,
)

DRAIN_LIMIT = 1000
"""Messages taken into one emit when they arrive together (one fsync for a burst)."""


class HomeAssistantSource:
    """A pushed source reading a Home Assistant's states; see the module doc."""

    pausable = False
    """Home Assistant drops a websocket client that stops reading, and the state
    changes it missed are gone: the core queues past max_queue instead."""

    def __init__(self, config: HomeAssistantConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context
        self.log = context.logger
        self.converter = StateConverter(selection_from(config), context.logger)
        self.connections = 0
        """Successful connections so far (a reconnect makes it 2 or more)."""
        self.connected = threading.Event()
        """Set while subscribed; for tests and status."""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client: HomeAssistantClient | None = None
        self._subscription: int | None = None
        self._states_request: int | None = None
        self._history_request: int | None = None
        self.delivered = DeliveredTimes(context.state_dir / "delivered.json", context.logger)
        self._gap: dict[str, datetime] = {}
        """Where the running history read started, per entity."""
        self._holding: list[Reading] | None = None
        """Readings held back until the history read's answer (None: not reading)."""
        self._history_deadline = 0.0
        self._current_states: list[Any] = []
        """get_states' answer, converted after the history's."""
        self.gap_readings = 0
        """Readings recovered from HA's recorder so far; for tests and status."""

    @property
    def counts(self) -> dict[str, int]:
        """Readings made and states skipped, by reason."""
        return {"readings": self.converter.converted, **dict(self.converter.skipped)}

    # -- running -----------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Read states until :meth:`stop`, reconnecting with backoff when HA goes away."""
        self._stop.clear()
        if self.config.url.startswith("ws://"):
            warn_plain_text(self.log, self.config.host, "the access token")
        self.delivered.load()
        initial = self.config.reconnect_initial.total_seconds()
        delay = initial
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                client = HomeAssistantClient.connect(
                    self.config.url,
                    self.config.token,
                    tls=self.config,
                    timeout=self.config.connect_timeout,
                )
            except CONNECTION_ERRORS as exc:
                if self._stop.is_set():
                    break
                self.log.warning(
                    "cannot reach Home Assistant at %s: %s; retrying in %.0fs",
                    self.config.url,
                    _describe(exc),
                    delay,
                )
                self.context.report_error("connection", f"cannot reach: {_describe(exc)}")
                self._stop.wait(delay)
                delay = min(delay * 2, self.config.reconnect_max.total_seconds())
                continue
            try:
                self._session(client, emit)
            except CONNECTION_ERRORS as exc:
                if not self._stop.is_set():
                    self.log.warning("lost Home Assistant: %s; reconnecting", _describe(exc))
                    self.context.report_error("connection", f"lost: {_describe(exc)}")
            finally:
                self.connected.clear()
                with self._lock:
                    self._client = None
                client.close()
            if time.monotonic() - started > 60:
                delay = initial  # it ran a good while: a new outage starts the backoff anew
            if not self._stop.is_set():
                self._stop.wait(delay)
                delay = min(delay * 2, self.config.reconnect_max.total_seconds())

    def stop(self) -> None:
        """Make :meth:`start` return: wakes its wait or closes its connection."""
        self._stop.set()
        with self._lock:
            client = self._client
        if client is not None:
            client.close()

    def _session(self, client: HomeAssistantClient, emit: Emit) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._client = client
        self._begin(client)
        self.connections += 1
        self.context.report_error("connection", None)
        self.log.info(
            "connected to Home Assistant %s at %s",
            getattr(client, "ha_version", "?"),
            self.config.url,
        )
        heartbeat = self.config.heartbeat.total_seconds()
        while not self._stop.is_set():
            if self._holding is not None and time.monotonic() > self._history_deadline:
                # Nothing is lost by trying again: the held readings are not delivered,
                # so the next connection's history read covers them.
                raise TimeoutError("Home Assistant did not answer get_states or the history read")
            try:
                messages = self._collect(client, heartbeat)
            except TimeoutError:
                client.ping(self.config.connect_timeout.total_seconds())
                continue
            readings = self.handle_messages(messages)
            if readings:
                emit(readings)
                # Durable in the outbox now: the next gap read starts after these.
                self.delivered.update((r.stream, r.timestamp) for r in readings)
                self.delivered.save()

    def _begin(self, client: HomeAssistantClient) -> None:
        """Subscribe, then ask for the current states, holding live events back."""
        # Subscribe before reading the states: a change between the two is then seen
        # twice (deduplicated), never zero times.
        self._subscription = client.command(
            {"type": "subscribe_events", "event_type": "state_changed"}
        )
        # Live events are held until the current states (and the recorder's record of
        # the gap) are read: one sent before them would be marked delivered first, and
        # a crash then would make the next gap read start after the older changes.
        self._history_request, self._holding, self._gap = None, [], {}
        self._history_deadline = time.monotonic() + self.config.heartbeat.total_seconds()
        self._states_request = client.command({"type": "get_states"})

    def _collect(self, client: HomeAssistantClient, heartbeat: float) -> list[Any]:
        """The next message, plus whatever else is already waiting (up to a limit)."""
        messages = list(client.messages(heartbeat))
        while len(messages) < DRAIN_LIMIT:
            try:
                messages.extend(client.messages(0))
            except TimeoutError:
                break
        return messages

    # -- messages ----------------------------------------------------------------

    def handle_messages(self, messages: Iterable[Any]) -> list[Reading]:
        """Readings from websocket messages; every odd one is counted, none raises
        except a refused subscription (:class:`ProtocolError`, then a reconnect)."""
        readings: list[Reading] = []
        for message in messages:
            made = self.handle_message(message)
            # Checked per message: the answer that ends the holding returns the held
            # readings after its own, and what follows it in the batch goes after those.
            (readings if self._holding is None else self._holding).extend(made)
        return readings

    def handle_message(self, message: Any) -> list[Reading]:
        """Readings from one message (an event, the get_states result, or other)."""
        if not isinstance(message, Mapping):
            self.converter.skipped["malformed"] += 1
            self.log.debug("ignoring a message that is not an object: %.80r", message)
            return []
        kind = message.get("type")
        message_id = message.get("id")
        if kind == "result" and message_id is not None and message_id == self._history_request:
            return self._history_answered(message)
        if kind == "result" and message_id in (self._subscription, self._states_request):
            if message.get("success") is not True:
                error = message.get("error")
                raise ProtocolError(f"Home Assistant refused a command: {error!r:.200}")
            if message_id == self._subscription:
                self.connected.set()
                return []
            result = message.get("result")
            if not isinstance(result, list):
                self.converter.skipped["malformed"] += 1
                self.log.warning("get_states gave %s, not a list", type(result).__name__)
                return []
            if self._read_gap(result):
                # Converted after the history, so that the one already in it is a repeat.
                self._current_states = result
                return []
            readings = self.converter.convert_all(result)
            self.log.info("read %d current state(s) after connecting", len(readings))
            return self._release(readings)
        if kind == "event" and message_id == self._subscription:
            is_state_change, new_state = state_changed_new_state(message)
            if not is_state_change:
                self.converter.skipped["malformed"] += 1
                return []
            if new_state is None:
                return []  # the entity was removed: no value to record
            reading = self.converter.convert(new_state)
            return [reading] if reading is not None else []
        return []  # pong, results of other commands: nothing to do

    # -- the gap -------------------------------------------------------------------

    def _read_gap(self, states: list[Any]) -> bool:
        """Ask HA's recorder for what the selected entities did since their last
        delivered change, and hold readings back until it answers; False if there is
        nothing to ask (a first run)."""
        selected = [
            state["entity_id"]
            for state in states
            if isinstance(state, Mapping)
            and self.converter.selected(state.get("entity_id"), state.get("attributes"))
        ]
        self._gap = self.delivered.start_for(selected)
        with self._lock:
            client = self._client
        if not self._gap or client is None:
            return False
        if self._holding is None:
            self._holding = []
        since = min(self._gap.values())
        self._history_request = client.command(history_command(self._gap, since))
        self._history_deadline = time.monotonic() + self.config.heartbeat.total_seconds()
        self.log.info(
            "reading what %d entit(y/ies) did since %s from HA's recorder", len(self._gap), since
        )
        return True

    def _history_answered(self, message: Mapping[str, Any]) -> list[Reading]:
        """The recorded changes newer than each entity's last delivered one, then the
        current states, then the readings of the events held back meanwhile."""
        self._history_request = None
        current, self._current_states = self._current_states, []
        if message.get("success") is not True:
            # HA without its recorder or history: only the current states can be sent.
            self.log.warning(
                "Home Assistant gave no history (%.200r); changes made while "
                "disconnected are not recovered",
                message.get("error"),
            )
            return self._release(self.converter.convert_all(current))
        recovered = [
            reading
            for reading in self.converter.convert_all(states_from_history(message.get("result")))
            if reading.stream in self._gap and reading.timestamp > self._gap[reading.stream]
        ]
        self.gap_readings += len(recovered)
        if recovered:
            self.log.info("recovered %d state change(s) from HA's recorder", len(recovered))
        return self._release(recovered + self.converter.convert_all(current))

    def _release(self, first: list[Reading]) -> list[Reading]:
        """End the holding: ``first``, then the held readings not already among them
        (an event that came before get_states' answer is in that answer too)."""
        held, self._holding = self._holding or [], None
        seen = {(r.stream, r.timestamp) for r in first}
        return first + [r for r in held if (r.stream, r.timestamp) not in seen]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
