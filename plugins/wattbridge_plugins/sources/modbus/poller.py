"""Reading devices: decoding a device's registers, and the loop one bus thread runs.

A device that does not answer (after ``retries``) is marked down and logged once; it is
then tried once per backoff delay (its interval, doubled each failure, at most
``backoff_max``) instead of at every poll, so a dead meter costs its bus at most one
timeout per backoff, and other buses not at all. When it answers it is logged back up.

Polls run on the wall clock's grid: a device with an interval of 15m is read at :00,
:15, :30 and :45 (every instant a whole number of intervals since the epoch, in UTC),
and its readings carry that scheduled instant (``timestamp = "scheduled"``), or the
moment of the read to the millisecond (``"measured"``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import attrs

from wattbridge import Backoff, Reading, Stopping, next_tick
from wattbridge_plugins.sources.modbus.client import BusClient, NoAnswer, Refused
from wattbridge_plugins.sources.modbus.model import BusPlan, Device, Register
from wattbridge_plugins.sources.modbus.planner import Read, one_per_value
from wattbridge_plugins.sources.modbus.registers import (
    BIT_KINDS,
    decode,
    is_float,
    shortest_float32,
)

Value = int | float


class Skip(Exception):
    """A register's content is not a value (NaN, an infinity): skip it this poll."""


def _decimals(number: float) -> int:
    text = repr(number)
    if "e" in text or "." not in text:
        return 0 if "e" not in text else 15
    return len(text.split(".")[1].rstrip("0"))


INT64_MAX = 2**63 - 1


def value_of(register: Register, words: list[int]) -> Value:
    """The value of ``register`` from its words (or bit); :class:`Skip` if not finite."""
    if register.kind in BIT_KINDS:
        return 1 if words[0] else 0
    raw = decode(words, register.type, register.byte_order)
    if is_float(register.type):
        if not math.isfinite(raw):
            raise Skip(f"holds {raw!r}, not a finite number")
        if register.type == "float32":
            raw = shortest_float32(raw)
    if register.scale is None and register.offset is None:
        if isinstance(raw, int) and raw > INT64_MAX:
            # A reading holds 64-bit signed integers; above that, a uint64 register is
            # almost always a "not available" marker (all ones).
            raise Skip(f"holds {raw}, beyond a 64-bit signed integer (a 'not available' marker?)")
        return raw
    scale = 1.0 if register.scale is None else register.scale
    offset = 0.0 if register.offset is None else register.offset
    value = raw * scale + offset
    if not math.isfinite(value):
        raise Skip(f"holds {raw!r}, which scaled is {value!r}")
    if isinstance(raw, int):
        # 2301 * 0.1 is 230.10000000000002 in binary; the meter meant 230.1.
        value = round(value, _decimals(scale) + _decimals(offset))
    return value


@attrs.define
class Outcome:
    """What one poll of a device gave: readings, and problems by register."""

    readings: list[Reading] = attrs.Factory(list)
    problems: list[tuple[Register, str]] = attrs.Factory(list)
    values: list[tuple[Register, Value]] = attrs.Factory(list)
    answered: bool = True
    error: str = ""


@attrs.define
class DeviceState:
    """A device's place in its bus's schedule and whether it answers."""

    device: Device
    due: datetime | None = None
    """The next poll's scheduled instant on the grid (None: not scheduled yet)."""
    down: bool = False
    failures: int = 0
    down_since: float = 0.0
    split: set[int] = attrs.Factory(set)
    """Reads the device refused whole, now read register by register."""
    reported: set[tuple[str, str]] = attrs.Factory(set)


class DeviceReader:
    """Reads and decodes the registers of the devices of one bus."""

    def __init__(self, client: BusClient, logger: logging.Logger, counters: Counter[str]) -> None:
        self.client = client
        self.log = logger
        self.counters = counters

    def _try(self, state: DeviceState, read: Read[Register], tries: int) -> list[int]:
        device = state.device
        for attempt in range(tries):
            try:
                return self.client.read(
                    device.unit, read.kind, read.address, read.count, device.timeout
                )
            except NoAnswer as exc:
                if attempt + 1 >= tries:
                    raise NoAnswer(f"{exc} ({tries} tr{'y' if tries == 1 else 'ies'})") from None
        raise AssertionError("unreachable")

    def poll(self, state: DeviceState, tries: int, timestamp: datetime | None = None) -> Outcome:
        """Read every register of the device once, stamping the readings ``timestamp``
        (default: when the device's first answer came, to the millisecond). Never
        raises for the device's sake."""
        device = state.device
        outcome = Outcome()
        for index, whole in enumerate(device.reads):
            pending = one_per_value(whole.registers) if index in state.split else [whole]
            while pending:
                read = pending.pop(0)
                try:
                    words = self._try(state, read, tries)
                    if timestamp is None:
                        timestamp = measured_now()
                except NoAnswer as exc:
                    outcome.answered = False
                    outcome.error = str(exc)
                    return outcome
                except Refused as exc:
                    if len(read.registers) > 1:
                        # Find which register it refuses: read them one by one from now on.
                        state.split.add(index)
                        self._once(
                            state,
                            ("split", str(index)),
                            "%s refused the read of %d registers from %s (%s); "
                            "reading them one by one",
                            device.label,
                            read.count,
                            read.registers[0].label,
                            exc,
                        )
                        pending = [*one_per_value(read.registers), *pending]
                        continue
                    register = read.registers[0]
                    message = f"{device.label}, {register.label} ({register.stream}): {exc}"
                    outcome.problems.append((register, message))
                    self.counters["refused"] += 1
                    self._once(state, ("refused", register.stream), "%s", message)
                    continue
                self._decode(state, read, words, timestamp, outcome)
        return outcome

    def _decode(
        self,
        state: DeviceState,
        read: Read[Register],
        words: list[int],
        timestamp: datetime,
        outcome: Outcome,
    ) -> None:
        for register in read.registers:
            start = register.address - read.address
            try:
                value = value_of(register, words[start : start + register.size])
            except Skip as exc:
                message = f"{state.device.label}, {register.label} ({register.stream}) {exc}"
                outcome.problems.append((register, message))
                count = self.counters[f"skipped:{register.stream}"] = (
                    self.counters[f"skipped:{register.stream}"] + 1
                )
                self.counters["skipped"] += 1
                if count == 1 or count % 100 == 0:
                    self.log.warning("skipping a value (%d so far): %s", count, message)
                continue
            outcome.values.append((register, value))
            outcome.readings.append(Reading(register.stream, timestamp, value, register.unit))

    def _once(self, state: DeviceState, key: tuple[str, str], message: str, *args: object) -> None:
        if key not in state.reported:
            state.reported.add(key)
            self.log.warning(message, *args)


class BusPoller:
    """The loop of one bus thread: polls its devices on their schedules and emits."""

    def __init__(
        self,
        plan: BusPlan,
        emit: Callable[[Iterable[Reading]], None],
        logger: logging.Logger,
        stop: threading.Event,
        has_room: Callable[[], bool] = lambda: True,
        counters: Counter[str] | None = None,
        report_error: Callable[[str, str | None], None] = lambda _part, _message: None,
        count: Callable[[str, int], None] = lambda _name, _n: None,
    ) -> None:
        self.plan = plan
        self.report_error = report_error
        """The source context's: a device that is down shows in ``wattbridge status``."""
        self.count = count
        """The source context's: unanswered and skipped polls, counted in status."""
        self.emit = emit
        self.log = logger
        self.stop = stop
        self.has_room = has_room
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self.client = BusClient(plan.link, stop)
        self.reader = DeviceReader(self.client, logger, self.counters)
        self.states = [DeviceState(device) for device in plan.devices]

    def run(self) -> None:
        """Poll until ``stop`` is set (or emit raises Stopping)."""
        now = datetime.now(UTC)
        for state in self.states:
            if state.due is None:
                state.due = next_tick(now, _interval(state.device))
        try:
            while not self.stop.is_set():
                state = min(self.states, key=_due)
                delay = (_due(state) - datetime.now(UTC)).total_seconds()
                if delay > 0 and self.stop.wait(delay):
                    return
                self.poll_one(state)
        except Stopping:
            return
        finally:
            self.client.close()

    def poll_one(self, state: DeviceState) -> None:
        """Poll one device now, reschedule it, and emit what it gave."""
        device = state.device
        if not self.has_room():
            skipped = self.counters["polls_skipped"] = self.counters["polls_skipped"] + 1
            self.count("polls_skipped", 1)
            if skipped == 1 or skipped % 100 == 0:
                self.log.warning(
                    "outbox full: poll of %s skipped (%d so far)", device.label, skipped
                )
            self._next(state)
            return
        timestamp = _due(state) if device.timestamp == "scheduled" else None
        outcome = self.reader.poll(
            state, tries=1 if state.down else device.retries + 1, timestamp=timestamp
        )
        self.counters["polls"] += 1
        if outcome.answered:
            if state.down:
                self.log.info(
                    "%s on %s is back up after %.0fs down",
                    device.label,
                    self.plan.link.label,
                    time.monotonic() - state.down_since,
                )
                self.report_error(device.label, None)
            state.down = False
            state.failures = 0
            self._next(state)
        else:
            state.failures += 1
            self.counters["no_answer"] += 1
            self.count("no_answer", 1)
            if not state.down:
                state.down = True
                state.down_since = time.monotonic()
                self.log.warning(
                    "%s on %s is down: %s; trying again with backoff up to %.0fs",
                    device.label,
                    self.plan.link.label,
                    outcome.error,
                    device.backoff_max,
                )
                self.report_error(device.label, f"down on {self.plan.link.label}: {outcome.error}")
            # The core's Backoff caps the exponent: a meter down for days (thousands of
            # failures) must not overflow the float the formula makes.
            backoff = Backoff(device.interval, device.backoff_max, jitter=False)
            retry_at = datetime.now(UTC) + timedelta(seconds=backoff.delay(state.failures))
            state.due = next_tick(retry_at - _ONE_US, _interval(device))  # back on the grid
        if outcome.readings:
            self.emit(outcome.readings)
            self.counters["readings"] += len(outcome.readings)

    def _next(self, state: DeviceState) -> None:
        interval = _interval(state.device)
        due = _due(state) + interval
        now = datetime.now(UTC)
        if due <= now:
            # Behind (a slow bus): skip the ticks that passed rather than pile them up.
            late = next_tick(now, interval)
            self.counters["late"] += (late - due) // interval
            due = late
        state.due = due


_ONE_US = timedelta(microseconds=1)


def measured_now() -> datetime:
    """Now, to the millisecond: when a device answered (``timestamp = "measured"``)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _interval(device: Device) -> timedelta:
    return max(timedelta(seconds=device.interval), _ONE_US)


def _due(state: DeviceState) -> datetime:
    assert state.due is not None, "a device polled before run() scheduled it"
    return state.due
