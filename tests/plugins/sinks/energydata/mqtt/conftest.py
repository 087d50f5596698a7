"""A private Mosquitto for the energydata-mqtt tests, set up as the platform is: the
token is the user name, and the ACL lets it write only below its dataset's prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs
import pytest

from wattbridge.testing import Mosquitto, TlsFiles, make_certificates
from wattbridge_plugins.common.mqtt_subscriber import Subscriber


@attrs.frozen
class Edk:
    """The dataset's credentials in the test broker."""

    token: str = "edk-token-3f9a1c"
    password: str = "edk-password-77b2"
    prefix: str = "myhouse"
    reader: str = "reader-6c2d"


@pytest.fixture(scope="session")
def edk() -> Edk:
    """Token, password and prefix the test broker knows."""
    return Edk()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """The CA that signed the broker's certificate."""
    return make_certificates(tmp_path_factory.mktemp("ca"), "ca")


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA that did not sign the broker's certificate."""
    return make_certificates(tmp_path_factory.mktemp("other-ca"), "other")


@pytest.fixture
def broker(mosquitto: Callable[..., Mosquitto], test_ca: TlsFiles, edk: Edk) -> Mosquitto:
    """Mosquitto with a password file, an ACL (the token may write only below its
    prefix) and a TLS listener; persistent, so a subscriber's session survives a restart."""
    return mosquitto(
        users={edk.token: edk.password, edk.reader: edk.reader},
        acl=[
            f"user {edk.token}",
            f"topic write {edk.prefix}/#",
            f"user {edk.reader}",
            "topic read #",
        ],
        tls=test_ca,
        persistence=True,
    )


@pytest.fixture
def subscriber(broker: Mosquitto, edk: Edk) -> Iterator[Subscriber]:
    """A subscriber to every topic of the broker, connected before the test publishes."""
    sub = Subscriber(broker, edk.reader, edk.reader)
    yield sub
    sub.close()
