"""The component and HA's recorder: what changed while the entry was not running is
read from the recorder when it starts, and the ``wattbridge.backfill`` service sends
recorded states and a week of hourly long-term statistics.

HA's own recorder runs (``recorder_mock``: the real recorder on an SQLite database of
the test's own). It must be set up before ``hass``, hence the two autouse fixtures of
conftest.py are redone here with ``recorder_mock`` first.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from wb_helpers import COMPONENT_ROOT, DOMAIN, add_entry

from wattbridge.testing import jsonl_records

ENERGY = {"device_class": "energy", "unit_of_measurement": "kWh", "state_class": "total_increasing"}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Any, enable_custom_integrations: Any) -> None:
    """As conftest.py's, with the recorder set up first."""
    import custom_components

    ours = str(COMPONENT_ROOT / "custom_components")
    if ours not in list(custom_components.__path__):
        custom_components.__path__.append(ours)


@pytest.fixture(autouse=True)
def config_dir_in_tmp(recorder_mock: Any, hass: HomeAssistant, tmp_path: Path) -> Path:
    """As conftest.py's, with the recorder set up first."""
    hass.config.config_dir = str(tmp_path)
    return tmp_path


async def _flush(hass: HomeAssistant) -> Any:
    return await hass.services.async_call(DOMAIN, "flush", {}, blocking=True, return_response=True)


async def test_changes_made_while_the_entry_was_unloaded_are_sent_at_its_start(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    hass.states.async_set("sensor.meter", "0", ENERGY)
    entry = await add_entry(hass, "jsonl", {"path": str(out)})
    await _flush(hass)
    assert [line["value"] for line in jsonl_records(out)] == [0]

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    changed = []
    for n in range(1, 31):  # 30 changes while wattbridge is not running
        hass.states.async_set("sensor.meter", str(n), ENERGY)
        await hass.async_block_till_done()
        changed.append(hass.states.get("sensor.meter").last_changed.isoformat())
    await async_wait_recording_done(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    hass.states.async_set("sensor.meter", "31", ENERGY)
    await hass.async_block_till_done()
    await _flush(hass)
    lines = jsonl_records(out)
    assert [line["value"] for line in lines] == list(range(32))
    assert [line["timestamp"] for line in lines[1:31]] == changed


async def test_without_a_delivered_file_only_the_current_state_is_sent(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """A new entry does not send the recorder's past by itself (that is the backfill)."""
    out = tmp_path / "out.jsonl"
    for n in range(3):
        hass.states.async_set("sensor.meter", str(n), ENERGY)
        await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    await add_entry(hass, "jsonl", {"path": str(out)})
    await _flush(hass)
    assert [line["value"] for line in jsonl_records(out)] == [2]


async def test_backfill_sends_recorded_states_and_a_week_of_hourly_statistics(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    starts = [hour - timedelta(hours=169 - k) for k in range(168)]
    metadata: dict[str, Any] = {
        "has_mean": False,
        "has_sum": True,
        "name": None,
        "source": "recorder",
        "statistic_id": "sensor.meter",
        "unit_of_measurement": "kWh",
    }
    try:  # HA 2025.x and later ask for these two keys (HA 2024.3 has neither)
        from homeassistant.components.recorder.models import StatisticMeanType
    except ImportError:
        pass
    else:
        metadata |= {"mean_type": StatisticMeanType.NONE, "unit_class": "energy"}
    async_import_statistics(
        hass,
        metadata,
        [{"start": start, "state": 1000.0 + k, "sum": float(k)} for k, start in enumerate(starts)],
    )
    for n in (5000, 5001):
        hass.states.async_set("sensor.meter", str(n), ENERGY)
        await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    entry = await add_entry(hass, "jsonl", {"path": str(out), "flush_interval": "1h"})
    assert entry.state is ConfigEntryState.LOADED

    response = await hass.services.async_call(
        DOMAIN,
        "backfill",
        {"since": (hour - timedelta(days=8)).isoformat()},
        blocking=True,
        return_response=True,
    )
    assert response == {"states": 2, "statistics": 168}
    await _flush(hass)
    hourly = {
        line["timestamp"]: line["value"]
        for line in jsonl_records(out)
        if line["timestamp"].endswith(":00:00+00:00")
    }
    expected = {
        (start + timedelta(hours=1)).isoformat(): 1000.0 + k for k, start in enumerate(starts)
    }
    assert {t: v for t, v in hourly.items() if t in expected} == expected
    values = [line["value"] for line in jsonl_records(out)]
    assert values.count(5000) == 1 and 5001 in values


async def test_a_backfill_of_an_empty_range_is_refused(hass: HomeAssistant, tmp_path: Path) -> None:
    await add_entry(hass, "jsonl", {"path": str(tmp_path / "out.jsonl")})
    now = dt_util.utcnow().isoformat()
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN, "backfill", {"since": now, "until": now}, blocking=True, return_response=True
        )
    assert caught.value.translation_key == "empty_range"
