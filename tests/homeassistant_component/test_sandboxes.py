"""State changes in HA reach each platform's sandbox (real servers on loopback), and
diagnostics never show a secret."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from homeassistant import config_entries
from homeassistant.components.diagnostics import REDACTED
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from wb_helpers import DOMAIN

from wattbridge.testing import wait_until


async def _flow(
    hass: HomeAssistant,
    sink_type: str,
    keys: dict[str, Any],
    entities: list[str],
    resolution: str = "exact",
) -> Any:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"sink_type": sink_type}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], keys)
    assert result.get("step_id") == "entities", result.get("errors")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"include_entities": entities, "timestamp_resolution": resolution}
    )
    await hass.async_block_till_done()
    assert result["type"] == FlowResultType.CREATE_ENTRY
    return result["result"]


async def get_diagnostics_for_config_entry(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, entry: Any
) -> dict[str, Any]:
    """Diagnostics as a user downloads them: through HA's diagnostics HTTP API."""
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, "diagnostics", {})
    client = await hass_client()
    response = await client.get(f"/api/diagnostics/config_entry/{entry.entry_id}")
    assert response.status == 200
    body = await response.json()
    return body["data"]  # type: ignore[no-any-return]


async def _set_and_flush(hass: HomeAssistant, entity_id: str, values: list[str]) -> None:
    for value in values:
        hass.states.async_set(entity_id, value, {"unit_of_measurement": "kWh"})
        await hass.async_block_till_done()
        # The platforms keep one value per datastream and millisecond; two changes in
        # one millisecond (HA 2026 on Python 3.13 makes them that fast) are one value.
        await asyncio.sleep(0.005)
    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)


@pytest.fixture
def energinet(socket_enabled: Any, wattbridge_sandbox: Callable[[str], Any]) -> Any:
    sandbox = wattbridge_sandbox("energinet")
    sandbox.add_meters(["HA-METER-1", "HA-METER-2"])
    return sandbox


async def test_states_reach_the_energinet_sandbox_and_diagnostics_redact_the_token(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    energinet: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = energinet.tokens["sender-1"]
    extra = (
        f'[senders.house]\ntoken = "{token}"\n'
        'meters = {"sensor.meter" = "HA-METER-1", "sensor.heat" = "HA-METER-2"}\n'
    )
    entry = await _flow(
        hass,
        "energinet",
        {"url": energinet.url, "time_format": "seconds", "extra_toml": extra},
        ["sensor.meter", "sensor.heat"],
        # energinet.net takes whole seconds at most; HA stamps to the microsecond.
        resolution="second",
    )
    assert entry.data["sink"]["senders"]["house"]["token"] == token

    hass.states.async_set("sensor.meter", "10.5", {"unit_of_measurement": "kWh"})
    await _set_and_flush(hass, "sensor.heat", ["11.25"])
    stored = await hass.async_add_executor_job(energinet.values)
    # One request (the sender's 10-minute window) carried both meters' values.
    assert [list(stored[m].values()) for m in ("HA-METER-1", "HA-METER-2")] == [[10.5], [11.25]]
    assert len(await hass.async_add_executor_job(energinet.requests)) == 1

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert token not in text
    assert diagnostics["entry"]["data"]["sink"]["senders"]["house"]["token"] == REDACTED

    # Should a sink ever log its token, HA's log still does not show it.
    for name in ("wattbridge.sink.sink", "wattbridge._runtime"):
        logging.getLogger(name).warning("request with token %s failed", token)
    # The harness's stand-in for HA's .storage logs every config entry it writes at
    # DEBUG (as HA keeps entries on disk, secrets included); that is the test double's
    # log, not a line HA or wattbridge prints, and it comes at a moment of its choosing.
    printed = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith("pytest_homeassistant_custom_component")
    )
    assert token not in printed and "request with token *** failed" in printed
    assert diagnostics["status"]["depth"] == 0
    assert diagnostics["states"]["readings"] == 2
    assert await hass.config_entries.async_unload(entry.entry_id)


DATASTREAM = 9201  # the HA entity's datastream in the sandbox's house dataset


@pytest.fixture
def house(door: Any) -> Any:
    """The MQTT door (conftest.py) with a datastream for ``sensor.meter`` in the
    ``house`` dataset."""
    door.store.add_datastream(DATASTREAM, "house/sensor.meter", "double")
    return door


def _door_keys(door: Any, token: str) -> dict[str, Any]:
    return {
        "token": token,
        "prefix": "house",
        "datastreams": ["sensor.meter"],
        "host": "127.0.0.1",
        "port": door.port,
        "ca_file": str(door.ca_file),
    }


async def test_states_reach_energydata_over_mqtt_and_diagnostics_redact(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, house: Any
) -> None:
    from wattbridge_plugins.common.mqtt_subscriber import Subscriber

    door = house
    token = door.tokens["write"]
    subscriber = await hass.async_add_executor_job(
        lambda: Subscriber(door.port, door.tokens["read"], topic="house/#", ca_file=door.ca_file)
    )
    try:
        entry = await _flow(hass, "energydata-mqtt", _door_keys(door, token), ["sensor.meter"])
        await _set_and_flush(hass, "sensor.meter", ["1", "2.5"])
        await hass.async_add_executor_job(
            lambda: wait_until(lambda: len(subscriber.values("house")) >= 2)
        )
        assert [(s, v) for s, _, v in subscriber.values("house")] == [
            ("sensor.meter", 1),
            ("sensor.meter", 2.5),
        ]
        # Stored by the platform, as its fetch API would give them back.
        stored = await hass.async_add_executor_job(door.stored)
        assert sorted(v for (ds, _), v in stored.items() if ds == DATASTREAM) == [1.0, 2.5]
        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert token not in json.dumps(diagnostics)
        assert diagnostics["entry"]["data"]["sink"]["token"] == REDACTED
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await hass.async_add_executor_job(subscriber.close)


async def test_states_reach_the_energydata_batch_sandbox_under_their_stream_names(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    socket_enabled: Any,
    wattbridge_sandbox: Callable[[str], Any],
) -> None:
    sandbox = wattbridge_sandbox("energydata")
    token = sandbox.tokens["write"]
    keys = {
        "url": sandbox.url,
        "token": token,
        "poll_initial": "10ms",
        "poll_max": "100ms",
        "extra_toml": 'datastreams = {"house/power_w" = "double"}\nflush_interval = "100ms"',
    }
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"sink_type": "energydata-batch"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], keys)
    assert result.get("step_id") == "entities", result.get("errors")
    bad = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"include_entities": ["sensor.power"], "stream_names": "no equals"}
    )
    assert bad["errors"] == {"stream_names": "invalid_stream_names"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"include_entities": ["sensor.power"], "stream_names": "sensor.power = house/power_w"},
    )
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.options["stream_names"] == {"sensor.power": "house/power_w"}

    await _set_and_flush(hass, "sensor.power", ["1500.5", "1700.25"])
    await hass.async_add_executor_job(
        lambda: wait_until(lambda: len(sandbox.stored()) >= 2, timeout=30, message="ingested")
    )
    stored = await hass.async_add_executor_job(sandbox.stored)
    assert sorted(stored.values()) == [1500.5, 1700.25]
    assert {ds for ds, _ in stored} == {1205192}  # the datastream of topic house/power_w

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert token not in json.dumps(diagnostics)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_refused_token_starts_reauth_and_the_queued_readings_follow(
    hass: HomeAssistant, house: Any
) -> None:
    from wb_helpers import add_entry

    door = house
    keys = _door_keys(door, "revoked-token-77")
    entry = await add_entry(hass, "energydata-mqtt", keys, {"include_entities": ["sensor.meter"]})
    await _set_and_flush(hass, "sensor.meter", ["1", "2.5"])
    data = entry.runtime_data
    await data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.energydata_mqtt_queue_depth").state == "unavailable"
    flows = [
        flow
        for flow in hass.config_entries.flow.async_progress()
        if flow["context"]["source"] == config_entries.SOURCE_REAUTH
    ]
    assert len(flows) == 1 and flows[0]["step_id"] == "reauth_confirm"

    wrong = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"token": "still-wrong-1"}
    )
    assert wrong["errors"] == {"base": "invalid_auth"}
    token = door.tokens["write"]
    done = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {"token": token})
    await hass.async_block_till_done()
    assert done["type"] == FlowResultType.ABORT and done["reason"] == "reauth_successful"
    assert entry.data["sink"]["token"] == token
    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)

    def stored() -> list[float]:
        return sorted(v for (ds, _), v in door.stored().items() if ds == DATASTREAM)

    # The readings queued while the token was refused arrive once it is fixed.
    await hass.async_add_executor_job(lambda: wait_until(lambda: len(stored()) >= 2))
    assert await hass.async_add_executor_job(stored) == [1.0, 2.5]
    assert await hass.config_entries.async_unload(entry.entry_id)
