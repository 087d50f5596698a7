"""The keys of a ``plugin = "mqtt"`` source table (README.md explains each one)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from wattbridge import Secret, refuse_plain_text
from wattbridge_plugins.common.tls import TlsKeys
from wattbridge_plugins.sources.mqtt import jsonpath

TimestampFormat = Literal["auto", "epoch_s", "epoch_ms", "iso"]


def _check_filter(_instance: object, _attribute: object, topic: str) -> None:
    if not topic:
        raise ValueError("topic must not be empty")
    levels = topic.split("/")
    for position, level in enumerate(levels):
        if "#" in level and (level != "#" or position != len(levels) - 1):
            raise ValueError(f"topic {topic!r}: '#' must be a whole last level")
        if "+" in level and level != "+":
            raise ValueError(f"topic {topic!r}: '+' must be a whole level")


def _check_path(_instance: object, _attribute: object, path: str) -> None:
    if path:
        jsonpath.parse(path)


def _check_stream(_instance: object, _attribute: object, stream: str) -> None:
    try:
        stream.format(*["x"] * 32, topic="x")
    except (IndexError, KeyError, ValueError) as exc:
        raise ValueError(
            f"stream {stream!r}: use {{topic}} or {{0}}, {{1}}... (topic levels): {exc}"
        ) from None


def _check_zone(_instance: object, _attribute: object, zone: str) -> None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {zone!r} is not a known time zone name") from None


@attrs.frozen
class Subscription:
    """One ``[[sources.NAME.subscriptions]]`` entry: a topic filter and what to read."""

    topic: str = attrs.field(validator=_check_filter)
    """A topic filter; ``+`` and ``#`` wildcards allowed."""
    stream: str = attrs.field(default="{topic}", validator=_check_stream)
    """The stream name; ``{topic}`` is the message's topic, ``{0}``, ``{1}``... its levels."""
    value: str = attrs.field(default="", validator=_check_path)
    """JSON path of the value; empty: the whole payload is a plain number."""
    timestamp: str = attrs.field(default="", validator=_check_path)
    """JSON path of the timestamp; empty: the time the message arrived."""
    timestamp_format: TimestampFormat = "auto"
    timezone: str = attrs.field(default="UTC", validator=_check_zone)
    """For ISO timestamps without an offset (Tasmota sends local time without one)."""
    unit: str = ""
    scale: float = 1.0
    """Numbers are multiplied by this (e.g. 0.001 for Wh to kWh)."""


def _credentials_encrypted(instance: MqttSourceConfig, _attribute: object, _value: bool) -> None:
    # Anonymous plain MQTT on a LAN is common and carries no secret; credentials are.
    if not instance.tls and (instance.username is not None or instance.password is not None):
        refuse_plain_text(instance, "tls", instance.host, "the MQTT user name and password")


@attrs.frozen
class MqttSourceConfig(TlsKeys):
    """Keys of a ``plugin = "mqtt"`` source table (and the TLS keys)."""

    subscriptions: list[Subscription] = attrs.field(validator=attrs.validators.min_len(1))
    host: str = "localhost"
    port: int | None = None
    """Default: 8883 with TLS, 1883 without."""
    username: str | None = None
    password: Secret | None = None
    tls: bool = False
    """Connect with TLS; the TLS keys (verify_tls, ca_file, ...) say how."""
    qos: int = attrs.field(default=1, validator=attrs.validators.in_((0, 1, 2)))
    client_id: str = ""
    """Default: ``wattbridge-<source name>``: stable, so the broker keeps the session."""
    clean_session: bool = False
    """False: the broker keeps messages (QoS 1, 2) for us while we are away."""
    keepalive: timedelta = timedelta(seconds=30)
    reconnect_min: timedelta = timedelta(seconds=1)
    reconnect_max: timedelta = timedelta(seconds=120)
    insecure: bool = attrs.field(default=False, validator=_credentials_encrypted)
    """Allow the user name and password in clear text (``tls = false``) to a broker on
    another machine; refused without it, warned with it."""

    @property
    def effective_port(self) -> int:
        """The port to connect to."""
        return self.port or (8883 if self.tls else 1883)
