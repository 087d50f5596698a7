"""Setting up and unloading an entry; states reaching the sink; sensors; services; a
restart with readings still queued."""

from __future__ import annotations

import threading
from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from wb_helpers import DOMAIN, add_entry

from wattbridge._outbox import Outbox
from wattbridge.testing import jsonl_records


async def _flush(hass: HomeAssistant) -> dict:
    return await hass.services.async_call(DOMAIN, "flush", {}, blocking=True, return_response=True)


async def test_states_reach_the_sink_and_unload_stops_cleanly(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    threads_before = set(threading.enumerate())
    out = tmp_path / "out.jsonl"
    hass.states.async_set(
        "sensor.before", "1.5", {"device_class": "energy", "unit_of_measurement": "kWh"}
    )
    entry = await add_entry(hass, "jsonl", {"path": str(out)})
    assert entry.state is ConfigEntryState.LOADED

    hass.states.async_set(
        "sensor.meter", "10", {"device_class": "energy", "unit_of_measurement": "kWh"}
    )
    hass.states.async_set("sensor.meter", "unavailable", {"device_class": "energy"})
    hass.states.async_set(
        "sensor.meter", "12.5", {"device_class": "energy", "unit_of_measurement": "kWh"}
    )
    hass.states.async_set("sensor.temperature", "21", {"device_class": "temperature"})
    await hass.async_block_till_done()
    await _flush(hass)

    lines = jsonl_records(out)
    got = [(line["stream"], line["value"], line["unit"]) for line in lines]
    assert got == [
        ("sensor.before", 1.5, "kWh"),
        ("sensor.meter", 10, "kWh"),
        ("sensor.meter", 12.5, "kWh"),
    ]
    state = hass.states.get("sensor.meter")
    assert lines[-1]["timestamp"] == state.last_changed.isoformat()

    # The outbox lives in HA's config folder, under the entry's id.
    assert (tmp_path / ".storage" / DOMAIN / entry.entry_id / "outbox" / "sink.sqlite").exists()

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    left = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    # HA's own: its executor, recorder and (HA 2024.5+) import-executor threads.
    ours = [n for n in left if not n.startswith(("SyncWorker", "Recorder", "ImportExecutor"))]
    assert not ours


async def test_sensors_show_depth_last_success_and_dead_letters(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    entry = await add_entry(hass, "jsonl", {"path": str(out), "flush_interval": "1h"})
    hass.states.async_set("sensor.a", "1", {"device_class": "energy"})
    hass.states.async_set("sensor.a", "2", {"device_class": "energy"})
    await hass.async_block_till_done()
    data = entry.runtime_data
    await hass.async_add_executor_job(data.bridge._drain)
    await data.coordinator.async_refresh()
    await hass.async_block_till_done()

    depth = hass.states.get("sensor.jsonl_queue_depth")
    assert depth is not None and depth.state == "2"
    assert hass.states.get("sensor.jsonl_dead_letters").state == "0"
    assert hass.states.get("sensor.jsonl_last_success").state == "unknown"

    response = await _flush(hass)
    assert response == {"settled": 2}
    assert hass.states.get("sensor.jsonl_queue_depth").state == "0"
    assert hass.states.get("sensor.jsonl_last_success").state not in ("unknown", "unavailable")
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_replay_dead_letters_service(hass: HomeAssistant, tmp_path: Path) -> None:
    from wattbridge import Reading

    out = tmp_path / "out.jsonl"
    entry = await add_entry(hass, "jsonl", {"path": str(out)})
    outbox: Outbox = entry.runtime_data.bridge.sink.outbox

    def dead_letter_one() -> None:
        from datetime import UTC, datetime

        outbox.put([Reading("sensor.x", datetime(2024, 1, 1, tzinfo=UTC), 5, "kWh")])
        batch = outbox.take(10)
        outbox.deadletter({batch.ids[0]: "refused by the platform"})

    await hass.async_add_executor_job(dead_letter_one)
    response = await hass.services.async_call(
        DOMAIN,
        "replay_dead_letters",
        {"config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    assert response == {"replayed": 1}
    assert [line["stream"] for line in jsonl_records(out)] == ["sensor.x"]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_service_call_for_an_unloaded_entry_is_refused(hass: HomeAssistant) -> None:
    import pytest
    from homeassistant.exceptions import ServiceValidationError
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(DOMAIN, "flush", {"config_entry_id": "nope"}, blocking=True)


async def test_a_restart_with_readings_still_queued_loses_nothing(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    # A long flush interval: the readings are queued when HA stops, not yet sent.
    entry = await add_entry(hass, "jsonl", {"path": str(out), "flush_interval": "1h"})
    for value in ("1", "2", "3"):
        hass.states.async_set("sensor.meter", value, {"device_class": "energy"})
        await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)  # as at HA's stop
    await hass.async_block_till_done()
    assert jsonl_records(out) == []
    outbox_file = tmp_path / ".storage" / DOMAIN / entry.entry_id / "outbox" / "sink.sqlite"
    outbox = Outbox(outbox_file)
    assert outbox.depth == 3
    outbox.close()

    # HA starts again: the entry is set up anew and sends what was queued.
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "sink": {"path": str(out), "flush_interval": "50ms"}}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await _flush(hass)
    assert [line["value"] for line in jsonl_records(out)][:3] == [1, 2, 3]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_stored_config_that_no_longer_fits_is_a_setup_error(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    entry = await add_entry(hass, "jsonl", {"batch": 0}, setup=False)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR


def test_secret_keys_are_found_in_nested_config_classes() -> None:
    from custom_components.wattbridge.bridge import load_registry
    from custom_components.wattbridge.redaction import secret_keys

    registry = load_registry()
    assert "token" in secret_keys(registry.sinks["energinet"].config_class)
    assert {"token", "password"} <= secret_keys(registry.sinks["energydata-mqtt"].config_class)
    assert secret_keys(registry.sinks["jsonl"].config_class) == set()


async def test_ha_stopping_queues_what_is_pending_and_stops_the_runtime(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    from homeassistant.const import EVENT_HOMEASSISTANT_STOP

    out = tmp_path / "out.jsonl"
    entry = await add_entry(hass, "jsonl", {"path": str(out), "flush_interval": "1h"})
    bridge = entry.runtime_data.bridge
    hass.states.async_set("sensor.meter", "4", {"device_class": "energy"})
    # No block_till_done: the reading may still be pending in memory when HA stops.
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert bridge.runtime is None  # stopped, outbox closed
    outbox = Outbox(tmp_path / ".storage" / DOMAIN / entry.entry_id / "outbox" / "sink.sqlite")
    assert outbox.depth == 1
    outbox.close()
    assert await hass.config_entries.async_unload(entry.entry_id)  # a no-op stop now
