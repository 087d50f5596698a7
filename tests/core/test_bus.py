"""The bus: routes map names and fan out; unrouted readings are counted; transforms
chain; a full outbox makes emit wait, and stopping ends the wait without queueing."""

import threading
from datetime import UTC, datetime

import pytest

from wattbridge import Reading, Stopping, hookimpl
from wattbridge._bus import Bus
from wattbridge._config import Route
from wattbridge._outbox import Outbox
from wattbridge._plugins import load_plugins

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def boxes(tmp_path):
    made = {name: Outbox(tmp_path / f"{name}.sqlite") for name in ("edk", "debug")}
    yield made
    for box in made.values():
        box.close()


def queued(box):
    return [(r.stream, r.value, r.source) for r in box.iter_queued()]


def test_mapping_and_fan_out(boxes):
    bus = Bus(
        [
            Route(("house",), ("edk",), {"import_kwh": "meter/import"}),
            Route(("house",), ("debug",), None),
        ],
        boxes,
    )
    bus.emit("house", [Reading("import_kwh", T0, 5), Reading("power_w", T0, 700)])
    assert queued(boxes["edk"]) == [("meter/import", 5, "house")]
    assert queued(boxes["debug"]) == [("import_kwh", 5, "house"), ("power_w", 700, "house")]
    assert bus.stats.counters["source.house.unrouted"] == 0


def test_unrouted_readings_are_counted_and_warned_once(boxes, caplog):
    bus = Bus([Route(("house",), ("edk",), {"a": "a"})], boxes)
    bus.emit("house", [Reading("b", T0, 1), Reading("b", T0, 2), Reading("a", T0, 3)])
    bus.emit("ghost", [Reading("x", T0, 1)])
    assert bus.stats.counters["source.house.unrouted"] == 2
    assert bus.stats.counters["source.ghost.unrouted"] == 1
    warnings = [r.getMessage() for r in caplog.records if "matches no route" in r.getMessage()]
    assert len(warnings) == 2


def test_transforms_chain_and_can_drop(boxes):
    class Scale:
        @staticmethod
        @hookimpl
        def wattbridge_transform_reading(reading, source, sink):
            if reading.unit == "Wh":
                return Reading(
                    reading.stream, reading.timestamp, reading.value / 1000, "kWh", reading.source
                )
            return None

    class DropNegativeForEdk:
        @staticmethod
        @hookimpl
        def wattbridge_transform_reading(reading, source, sink):
            return False if sink == "edk" and reading.value < 0 else None

    registry = load_plugins([Scale, DropNegativeForEdk], entry_points=False)
    bus = Bus(
        [Route(("h",), ("edk", "debug"))],
        boxes,
        transform_hook=registry.hook.wattbridge_transform_reading,
    )
    bus.emit("h", [Reading("e", T0, 1500, "Wh"), Reading("n", T0, -1)])
    assert [(r.stream, r.value, r.unit) for r in boxes["edk"].iter_queued()] == [("e", 1.5, "kWh")]
    assert len(list(boxes["debug"].iter_queued())) == 2
    assert bus.stats.counters["sink.edk.filtered"] == 1


def test_full_outbox_blocks_emit_until_room(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_queue=2)
    bus = Bus([Route(("s",), ("o",))], {"o": box})
    bus.emit("s", [Reading("a", T0, i) for i in range(2)])
    assert not bus.has_room("s")
    done = threading.Event()
    thread = threading.Thread(target=lambda: (bus.emit("s", [Reading("a", T0, 9)]), done.set()))
    thread.start()
    assert not done.wait(0.3)  # waiting: the outbox is full
    box.ack(box.take(1).ids)
    assert done.wait(5)
    assert [r.value for r in box.iter_queued()] == [1, 9]


def test_stopping_ends_a_blocked_emit_without_queueing(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_queue=1)
    stopping = threading.Event()
    bus = Bus([Route(("s",), ("o",))], {"o": box}, stopping=stopping)
    bus.emit("s", [Reading("a", T0, 1)])
    errors = []

    def blocked():
        try:
            bus.emit("s", [Reading("a", T0, 2)])
        except Stopping as exc:
            errors.append(exc)

    thread = threading.Thread(target=blocked)
    thread.start()
    stopping.set()
    thread.join(5)
    assert errors and "outbox of 'o' was full" in str(errors[0])
    assert box.depth == 1
