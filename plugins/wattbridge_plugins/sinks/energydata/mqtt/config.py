"""The keys of a ``plugin = "energydata-mqtt"`` sink table (see README.md for each one)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from wattbridge import Secret, refuse_plain_text
from wattbridge_plugins.common.tls import TlsKeys
from wattbridge_plugins.sinks.energydata.mqtt.payload import DatastreamType

PLATFORM_HOST = "mqtts.energydata.dk"
MAX_WINDOW = 900
"""The broker queues at most 1000 messages a client and drops the rest: stay well under."""


def _topic_part(what: str) -> Any:
    def check(_instance: object, _attribute: object, value: str) -> None:
        if not value:
            raise ValueError(f"{what} must not be empty")
        if "+" in value or "#" in value or "\x00" in value:
            raise ValueError(f"{what} {value!r} must not hold MQTT wildcards (+ #)")

    return check


def _check_datastreams(
    _instance: object, _attribute: object, value: list[str] | dict[str, DatastreamType]
) -> None:
    if not value:
        raise ValueError("datastreams must name at least one datastream suffix")
    for suffix in value:
        _topic_part("a datastream suffix")(None, None, suffix)
        if suffix.startswith("/"):
            raise ValueError(f"datastream suffix {suffix!r} must not start with '/'")


def _check_window(_instance: object, _attribute: object, value: int) -> None:
    if value < 1:
        raise ValueError(f"window must be at least 1, not {value}")
    if value > MAX_WINDOW:
        raise ValueError(
            f"window {value} refused: at most {MAX_WINDOW}, since the platform's broker "
            "queues at most 1000 messages a client and silently drops the rest"
        )


def _platform_needs_tls(instance: Any, _attribute: Any, tls: bool) -> None:
    if instance.host.lower().rstrip(".") == PLATFORM_HOST and not (tls and instance.verify_tls):
        raise ValueError(
            f"{PLATFORM_HOST} takes the token as the user name: tls and verify_tls stay on"
        )


def _token_encrypted(instance: EnergyDataMqttConfig, _attribute: object, _value: bool) -> None:
    if not instance.tls:
        refuse_plain_text(instance, "tls", instance.host, "the token (the MQTT user name)")


@attrs.frozen
class EnergyDataMqttConfig(TlsKeys):
    """Keys of a ``plugin = "energydata-mqtt"`` sink table (and the TLS keys)."""

    token: Secret
    """The dataset's (deploy) token; sent as the MQTT user name."""
    prefix: str = attrs.field(validator=_topic_part("prefix"))
    """The dataset's MQTT prefix."""
    datastreams: list[str] | dict[str, DatastreamType] = attrs.field(validator=_check_datastreams)
    """The datastream suffixes to publish (a list), or a table suffix -> type
    ("double", "integer", "string", "any"). Only these topics are ever published."""
    password: Secret | None = None
    """The MQTT password. Default: none, as the platform's own example sends only the token."""
    host: str = PLATFORM_HOST
    port: int = attrs.field(default=8883, validator=attrs.validators.in_(range(1, 65536)))
    tls: bool = attrs.field(default=True, validator=_platform_needs_tls)
    """Connect with TLS, checked as the TLS keys say (TLS cannot be turned off, nor its
    checks, for the platform's host; ``tls = false`` is for a local broker, or for another
    machine's with ``insecure = true``)."""
    separator: str = "/"
    """What joins the prefix and a suffix into a topic."""
    multi_value: bool = False
    """Pack every datastream of one timestamp into one message."""
    multi_value_topic: str | None = None
    """The topic of multi-value messages. Default: the prefix alone."""
    window: int = attrs.field(default=100, validator=_check_window)
    """Most messages published and not yet acknowledged (PUBACK) at any time."""
    ack_timeout: timedelta = timedelta(seconds=10)
    """A send gives up (and retries later) when no PUBACK came for this long."""
    connect_timeout: timedelta = timedelta(seconds=10)
    keepalive: timedelta = timedelta(seconds=30)
    client_id: str = ""
    """Default: ``wattbridge-<sink name>-<random>``."""
    batch: int = attrs.field(default=5000, validator=attrs.validators.ge(1))
    """Readings taken from the outbox for one send."""
    insecure: bool = attrs.field(default=False, validator=_token_encrypted)
    """Allow ``tls = false`` towards a broker on another machine (the token then goes in
    clear text); refused without it, warned with it. Never for the platform's host."""

    def topic(self, suffix: str) -> str:
        """The full topic of a datastream."""
        return f"{self.prefix}{self.separator}{suffix}"

    @property
    def multi_topic(self) -> str:
        """Where multi-value messages are published."""
        return self.multi_value_topic or self.prefix

    def types(self) -> dict[str, DatastreamType]:
        """Each configured suffix with its type ("any" when given as a list)."""
        if isinstance(self.datastreams, dict):
            return dict(self.datastreams)
        return dict.fromkeys(self.datastreams, "any")
