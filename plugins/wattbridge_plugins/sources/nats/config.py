"""The keys of a ``plugin = "nats"`` source table (README.md explains each one)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import attrs

from wattbridge_plugins.common.nats_keys import NatsKeys, check_subject_filter

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _check_partitions(_instance: Any, _attribute: Any, partitions: dict[str, list[str]]) -> None:
    if not partitions:
        raise ValueError('partitions is empty: name at least one, e.g. all = ["wattbridge.>"]')
    for name, subjects in partitions.items():
        if not _NAME.match(name):
            raise ValueError(f"partitions: {name!r}: use letters, digits, '-' and '_' only")
        if not subjects:
            raise ValueError(f"partitions: {name!r} has no subjects")
        for subject in subjects:
            check_subject_filter(subject)


def _check_name(_instance: Any, attribute: Any, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"{attribute.name} {name!r}: use letters, digits, '-' and '_' only")


def _check_uplink(_instance: Any, _attribute: Any, name: str) -> None:
    if name and not _NAME.match(name):
        raise ValueError(f"uplink {name!r}: use letters, digits, '-' and '_' only")


@attrs.frozen(kw_only=True)
class NatsSourceConfig(NatsKeys):
    """Keys of a ``plugin = "nats"`` source table (and the connection and TLS keys)."""

    partitions: dict[str, list[str]] = attrs.field(
        factory=lambda: {"all": ["wattbridge.>"]}, validator=_check_partitions
    )
    """Partition name -> subject filters; one uplink at a time owns a partition. Name a
    partition after the platform credential (energinet sender, EnergyData token) its
    readings are sent with."""
    durable: str = attrs.field(default="wattbridge", validator=_check_name)
    """The durable consumers' name stem (one consumer per partition subject)."""
    uplink: str = attrs.field(default="", validator=_check_uplink)
    """This uplink's name in the lease bucket (default: host name and process id)."""
    lease_ttl: timedelta = attrs.field(
        default=timedelta(seconds=15), validator=attrs.validators.ge(timedelta(seconds=1))
    )
    """A partition's owner renews its lease every third of this; a dead owner's
    partitions move to another uplink once it runs out."""
    lease_bucket: str = attrs.field(default="wattbridge-leases", validator=_check_name)
    """The JetStream KV bucket of leases and uplink heartbeats."""
    stamps_bucket: str = attrs.field(default="wattbridge-stamps", validator=_check_name)
    """The KV bucket of the rate-limit stamps of the sinks in ``shared_limits``."""
    shared_limits: list[str] = attrs.field(factory=list)
    """Sinks (by name) whose per-credential request stamps live in ``stamps_bucket``, so
    every uplink keeps one request per credential per interval cluster-wide."""
    fetch: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    """Messages one fetch takes from a consumer."""
    ack_wait: timedelta = attrs.field(
        default=timedelta(seconds=60), validator=attrs.validators.gt(timedelta(0))
    )
    """A fetched message unacknowledged this long is delivered again."""
