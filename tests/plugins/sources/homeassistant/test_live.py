"""The ``homeassistant`` source against a real Home Assistant 2024.3.3 on loopback.

States are set through HA's REST API, as an integration would set them, and must
arrive through the websocket API as readings; a restart of HA mid-stream must lose
nothing. See conftest.py for how HA is started and the token made.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from wattbridge.testing import SourceHarness, wait_until
from wattbridge_plugins.sources.homeassistant.client import AuthError


def values(readings: list[Any], stream: str) -> list[Any]:
    return [r.value for r in readings if r.stream == stream]


def test_states_set_in_ha_arrive_as_readings(
    home_assistant: Any, run_source: Callable[..., SourceHarness]
) -> None:
    ha = home_assistant
    # Set before the source connects: read by get_states on connect.
    before = ha.set_state(
        "sensor.live_energy", "100.5", unit_of_measurement="kWh", device_class="energy"
    )
    harness = run_source(
        "homeassistant", url=ha.url, token=ha.token, include_entities=["sensor.live_*"]
    )
    harness.start()
    first = harness.wait_for(1)[0]
    assert (first.stream, first.value, first.unit) == ("sensor.live_energy", 100.5, "kWh")
    assert first.timestamp == datetime.fromisoformat(before["last_changed"])
    wait_until(harness.source.connected.is_set, message="subscribed")

    changed = ha.set_state("sensor.live_power", "2300", unit_of_measurement="W")
    ha.set_state("sensor.live_power", "unavailable", unit_of_measurement="W")
    ha.set_state("sensor.live_power", "2400", unit_of_measurement="W")
    ha.set_state("sensor.other_power", "1", unit_of_measurement="W")  # not included
    readings = harness.wait_for(3)
    wait_until(lambda: harness.source.counts.get("unavailable") == 1, message="skip counted")
    assert values(readings, "sensor.live_power") == [2300, 2400]
    power = next(r for r in readings if r.stream == "sensor.live_power")
    assert power.timestamp == datetime.fromisoformat(changed["last_changed"])
    assert isinstance(power.value, int)
    assert values(harness.emitted, "sensor.other_power") == []


def test_device_class_selection(
    home_assistant: Any, run_source: Callable[..., SourceHarness]
) -> None:
    ha = home_assistant
    harness = run_source(
        "homeassistant",
        url=ha.url,
        token=ha.token,
        include_device_classes=["energy", "power"],
        exclude_entities=["sensor.dc_excluded"],
    )
    harness.start()
    wait_until(harness.source.connected.is_set, message="subscribed")
    ha.set_state("sensor.dc_temp", "21.5", device_class="temperature")
    ha.set_state("sensor.dc_excluded", "5", device_class="energy")
    ha.set_state("sensor.dc_heatpump", "800", device_class="power", unit_of_measurement="W")
    wait_until(lambda: values(harness.emitted, "sensor.dc_heatpump") == [800])
    streams = {r.stream for r in harness.emitted}
    assert "sensor.dc_temp" not in streams and "sensor.dc_excluded" not in streams


def test_a_wrong_token_is_a_clear_error_that_never_shows_the_token(
    home_assistant: Any, run_source: Callable[..., SourceHarness], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = home_assistant.token[:-4] + "AAAA"
    harness = run_source("homeassistant", url=home_assistant.url, token=wrong)
    caplog.set_level(logging.DEBUG)
    harness.start()
    wait_until(lambda: harness.errors, message="the source to fail")
    error = harness.errors[0]
    assert isinstance(error, AuthError)
    assert "refused the access token" in str(error)
    assert wrong not in str(error) and wrong not in caplog.text


def test_unreachable_home_assistant_is_retried_until_stopped(
    run_source: Callable[..., SourceHarness], caplog: pytest.LogCaptureFixture
) -> None:
    from wattbridge.testing import free_port

    harness = run_source(
        "homeassistant",
        url=f"http://127.0.0.1:{free_port()}",
        token="s3cret-token",
        reconnect_initial="50ms",
    )
    harness.start()
    wait_until(lambda: caplog.text.count("cannot reach Home Assistant") >= 2)
    assert not harness.errors
    assert "s3cret-token" not in caplog.text
    # stop() (by the fixture) must end the backoff wait promptly.


def test_a_restart_of_home_assistant_mid_stream_loses_nothing(
    home_assistant: Any,
    wattbridge_runtime: Callable[..., Any],
    source_config: Callable[..., str],
    tmp_path: Path,
) -> None:
    ha = home_assistant
    out = tmp_path / "out.jsonl"
    runtime = wattbridge_runtime(source_config(ha, out, "sensor.restart_*"))
    source = runtime.sources["ha"].plugin
    wait_until(source.connected.is_set, message="subscribed", timeout=20)

    def delivered() -> list[float]:
        if not out.exists():
            return []
        lines = out.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["value"] for line in lines]

    for n in range(1, 6):
        ha.set_state("sensor.restart_energy", str(n), unit_of_measurement="kWh")
    wait_until(lambda: delivered() == [1, 2, 3, 4, 5], message="the first five", timeout=20)

    ha.stop()
    wait_until(lambda: not source.connected.is_set(), message="the source to notice")
    ha.start()
    # Set while the source is (most likely) still away: get_states must bring it in.
    ha.set_state("sensor.restart_energy", "6", unit_of_measurement="kWh")
    wait_until(lambda: source.connections >= 2 and source.connected.is_set(), timeout=30)
    for n in (7, 8):
        ha.set_state("sensor.restart_energy", str(n), unit_of_measurement="kWh")
    # Generous: an unanswered history read is retried after a heartbeat (30 s).
    wait_until(lambda: delivered()[-1:] == [8], message="the last value", timeout=90)
    assert delivered() == [1, 2, 3, 4, 5, 6, 7, 8]


def test_wss_is_verified_by_default_and_works_with_the_ca_file(
    start_home_assistant: Callable[..., Any],  # first: stopped after the sources
    run_source: Callable[..., SourceHarness],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ha = start_home_assistant(tls=True)
    ha.set_state("sensor.tls_energy", "7", unit_of_measurement="kWh")
    untrusted = run_source("homeassistant", url=ha.url, token=ha.token, reconnect_initial="50ms")
    untrusted.start()
    wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, message="a refusal")
    assert untrusted.emitted == [] and not untrusted.source.connected.is_set()
    untrusted.stop()

    trusted = run_source(
        "homeassistant",
        url=ha.url,
        token=ha.token,
        ca_file=str(ha.certificate),
        include_entities=["sensor.tls_*"],  # HA's own zone.home counts people: "0"
    )
    assert trusted.source.config.url.startswith("wss://")
    trusted.start()
    assert [r.value for r in trusted.wait_for(1)] == [7]
