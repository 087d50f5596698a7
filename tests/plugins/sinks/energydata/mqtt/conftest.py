"""The energydata-mqtt tests run against the EnergyData sandbox's MQTT door
(``wattbridge sandbox energydata-mqtt``): Mosquitto behind a front that enforces the
platform's documented rules, with the token as user name and no password."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from wattbridge.testing import TlsFiles, make_certificates
from wattbridge_plugins.common.mqtt_subscriber import Subscriber

PREFIX = "myhouse"
# The test dataset's datastreams (suffix, type), declared in the sandbox below PREFIX.
DATASTREAMS: dict[str, str] = {
    "meter/import": "double",
    "meter/power": "double",
    "meter/p": "double",
    "meter/e": "double",
    "meter/state": "string",
    "count": "integer",
    "power": "double",
}


@attrs.frozen
class Edk:
    """The test dataset in the sandbox: its prefix and the tokens that write and read."""

    token: str
    reader: str
    prefix: str = PREFIX


@pytest.fixture
def sandbox(wattbridge_sandbox: Callable[[str], Any]) -> Any:
    """The MQTT door, with the test dataset's datastreams declared."""
    door = wattbridge_sandbox("energydata-mqtt")
    for number, (suffix, kind) in enumerate(DATASTREAMS.items()):
        door.store.add_datastream(9001 + number, f"{PREFIX}/{suffix}", kind)
    return door


@pytest.fixture
def edk(sandbox: Any) -> Edk:
    """The sandbox's tokens: ``token`` writes (and reads), ``reader`` only reads."""
    return Edk(sandbox.tokens["write"], sandbox.tokens["read"])


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA that did not sign the sandbox's certificate."""
    return make_certificates(tmp_path_factory.mktemp("other-ca"), "other")


@pytest.fixture
def subscriber(sandbox: Any, edk: Edk) -> Iterator[Subscriber]:
    """A subscriber to every topic, with the read token, connected before the test
    publishes."""
    sub = Subscriber(sandbox.port, edk.reader, topic="#", ca_file=sandbox.ca_file)
    yield sub
    sub.close()
