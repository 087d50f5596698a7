"""Test set-up for the Home Assistant custom component (run in the HA venv only, by
homeassistant_component/scripts/run-tests.sh).

pytest-homeassistant-custom-component is a pytest plugin (loaded by its entry point);
this file makes ``custom_components`` importable, enables custom integrations in every
test, and gives each test its own HA config folder, so outboxes land in tmp_path.

WATTBRIDGE_COMPONENT_ROOT may name another folder holding ``custom_components/``:
the release-zip test runs these tests against the unzipped component that way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# wb_helpers.py beside this file (tests are imported with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from wb_helpers import COMPONENT_ROOT

# HA imports custom integrations from the top-level package `custom_components`.
sys.path.insert(0, str(COMPONENT_ROOT))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: Any) -> None:
    """Let HA load custom_components/wattbridge in every test.

    The harness puts its own ``custom_components`` package (from its testing_config)
    first on sys.path; ours is added to that package's search path.
    """
    import custom_components

    ours = str(COMPONENT_ROOT / "custom_components")
    if ours not in list(custom_components.__path__):
        custom_components.__path__.append(ours)


@pytest.fixture(autouse=True)
def config_dir_in_tmp(hass: Any, tmp_path: Path) -> Iterator[Path]:
    """Each test's HA config folder (and so its outboxes) is its own tmp_path."""
    hass.config.config_dir = str(tmp_path)
    yield tmp_path


@pytest.fixture
def component_root() -> Path:
    """Where the component under test was imported from."""
    import custom_components.wattbridge as component

    return Path(component.__file__).resolve().parent


@pytest.fixture
def door(socket_enabled: Any, wattbridge_sandbox: Any) -> Any:
    """The EnergyData sandbox's MQTT door (TLS, the token as user name, write rights per
    datastream), a peer of the tests rather than a part under test.

    Its front reaches Mosquitto over a Unix socket, which the harness's host guard
    (loopback only) refuses; loopback and Unix sockets are allowed for it.
    """
    import pytest_socket

    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    return wattbridge_sandbox("energydata-mqtt")
