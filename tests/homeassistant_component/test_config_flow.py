"""The config flow (a sink's keys checked against its platform before saving) and the
options flow (the entity selection)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from wb_helpers import DOMAIN, add_entry

from wattbridge.testing import free_port, jsonl_records


async def _to_sink_step(hass: HomeAssistant, sink_type: str) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] == FlowResultType.FORM and result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"sink_type": sink_type}
    )
    assert result["type"] == FlowResultType.FORM and result["step_id"] == "sink"
    return result


async def test_a_jsonl_sink_is_set_up_and_its_entities_picked(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    result = await _to_sink_step(hass, "jsonl")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"path": str(tmp_path / "out.jsonl"), "batch": 500.0}
    )
    assert result["type"] == FlowResultType.FORM and result["step_id"] == "entities"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"include_device_classes": ["energy", "power"], "exclude_entities": ["sensor.x"]},
    )
    await hass.async_block_till_done()
    assert result["type"] == FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.data == {
        "sink_type": "jsonl",
        "sink": {"path": str(tmp_path / "out.jsonl"), "batch": 500},
    }
    assert entry.options == {
        "include_device_classes": ["energy", "power"],
        "exclude_entities": ["sensor.x"],
    }
    assert entry.state is ConfigEntryState.LOADED
    # The same target twice is refused.
    again = await _to_sink_step(hass, "jsonl")
    again = await hass.config_entries.flow.async_configure(
        again["flow_id"], {"path": str(tmp_path / "out.jsonl"), "batch": 500}
    )
    assert again["type"] == FlowResultType.ABORT and again["reason"] == "already_configured"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_invalid_keys_are_shown_with_the_problem(hass: HomeAssistant) -> None:
    result = await _to_sink_step(hass, "jsonl")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"batch": 0})
    assert result["errors"] == {"base": "invalid_config"}
    assert "batch" in result["description_placeholders"]["problems"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"extra_toml": "not = [valid"}
    )
    assert result["errors"] == {"base": "invalid_config"}


async def test_keys_a_form_cannot_show_go_in_extra_toml(hass: HomeAssistant) -> None:
    result = await _to_sink_step(hass, "energinet")
    keys = (
        {field["name"] for field in result["data_schema"].schema_as_list()}
        if hasattr(result["data_schema"], "schema_as_list")
        else {str(key) for key in result["data_schema"].schema}
    )
    assert "senders" not in keys and "extra_toml" in keys
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"url": "http://127.0.0.1:9/apiImport/data", "extra_toml": "[senders.house]\n"},
    )
    assert result["errors"] == {"base": "invalid_config"}
    assert "meters" in result["description_placeholders"]["problems"]


# -- energydata-mqtt: the token is checked against the sandbox's MQTT door ---------


def _mqtt_keys(port: int, token: str, ca_file: Path) -> dict[str, Any]:
    return {
        "token": token,
        "prefix": "house",
        "datastreams": ["import_kwh"],
        "host": "127.0.0.1",
        "port": port,
        "ca_file": str(ca_file),
        "connect_timeout": "3s",
    }


async def test_energydata_mqtt_with_a_good_token(hass: HomeAssistant, door: Any) -> None:
    token = door.tokens["write"]
    result = await _to_sink_step(hass, "energydata-mqtt")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _mqtt_keys(door.port, token, door.ca_file)
    )
    assert result["step_id"] == "entities", (
        result.get("errors"),
        result.get("description_placeholders"),
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"include_entities": ["sensor.meter"]}
    )
    await hass.async_block_till_done()
    assert result["type"] == FlowResultType.CREATE_ENTRY
    entry = result["result"]
    # The token is kept as HA keeps every config entry's data (.storage/core.config_entries).
    assert entry.data["sink"]["token"] == token
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_energydata_mqtt_with_a_bad_token(hass: HomeAssistant, door: Any) -> None:
    result = await _to_sink_step(hass, "energydata-mqtt")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _mqtt_keys(door.port, "wrong-token-123", door.ca_file)
    )
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert "wrong-token-123" not in str(result)


async def test_energydata_mqtt_unreachable(hass: HomeAssistant, door: Any) -> None:
    token = door.tokens["write"]
    result = await _to_sink_step(hass, "energydata-mqtt")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _mqtt_keys(free_port(), token, door.ca_file)
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert token not in str(result)


# -- options ------------------------------------------------------------------


async def test_the_options_flow_changes_the_entities_sent(
    hass: HomeAssistant, tmp_path: Path
) -> None:

    out = tmp_path / "out.jsonl"
    entry = await add_entry(hass, "jsonl", {"path": str(out)}, {"include_entities": ["sensor.a"]})
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] == FlowResultType.FORM and result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"include_entities": ["sensor.b"]}
    )
    assert result["type"] == FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {"include_entities": ["sensor.b"]}
    assert entry.state is ConfigEntryState.LOADED  # reloaded with the new selection

    hass.states.async_set("sensor.a", "1")
    hass.states.async_set("sensor.b", "2")
    await hass.async_block_till_done()
    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    assert [line["stream"] for line in jsonl_records(out)] == ["sensor.b"]
    assert await hass.config_entries.async_unload(entry.entry_id)


# -- reconfigure --------------------------------------------------------------


async def _reconfigure(hass: HomeAssistant, entry: Any) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "reconfigure", "entry_id": entry.entry_id}
    )
    assert result["type"] == FlowResultType.FORM and result["step_id"] == "reconfigure"
    return result


async def test_reconfigure_changes_the_sinks_keys_and_reloads(
    hass: HomeAssistant, tmp_path: Path
) -> None:

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    entry = await add_entry(hass, "jsonl", {"path": str(first)}, {"include_entities": ["sensor.a"]})
    result = await _reconfigure(hass, entry)
    shown = {str(key): key.description for key in result["data_schema"].schema}
    assert shown["path"] == {"suggested_value": str(first)}  # the stored keys are shown
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"path": str(second)}
    )
    await hass.async_block_till_done()
    assert result["type"] == FlowResultType.ABORT and result["reason"] == "reconfigure_successful"
    assert entry.data["sink"] == {"path": str(second)}
    assert entry.options == {"include_entities": ["sensor.a"]}
    assert entry.state is ConfigEntryState.LOADED

    hass.states.async_set("sensor.a", "1")
    await hass.async_block_till_done()
    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    assert jsonl_records(first) == [] and [line["value"] for line in jsonl_records(second)] == [1]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_keeps_the_stored_token_and_checks_a_new_one(
    hass: HomeAssistant, door: Any
) -> None:
    token = door.tokens["write"]
    keys = _mqtt_keys(door.port, token, door.ca_file)
    entry = await add_entry(hass, "energydata-mqtt", keys, {"include_entities": ["sensor.meter"]})
    result = await _reconfigure(hass, entry)
    assert token not in str(result)  # a secret is never sent back to the browser
    without_token = {key: value for key, value in keys.items() if key != "token"}
    wrong = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**without_token, "token": "wrong-token-123"}
    )
    assert wrong["type"] == FlowResultType.FORM and wrong["errors"] == {"base": "invalid_auth"}
    done = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**without_token, "connect_timeout": "4s"}
    )
    await hass.async_block_till_done()
    assert done["type"] == FlowResultType.ABORT and done["reason"] == "reconfigure_successful"
    assert entry.data["sink"]["token"] == token and entry.data["sink"]["connect_timeout"] == "4s"
    assert entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)
