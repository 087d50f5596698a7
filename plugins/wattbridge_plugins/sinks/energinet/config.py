"""The keys of a ``plugin = "energinet"`` sink table, checked when the config loads.

Every rule the platform states that can be checked before anything runs is checked
here, so ``wattbridge check`` refuses the config rather than the platform refusing
requests months later: at most 50 sender profiles, a request interval of at least ten
minutes (shorter only towards a loopback sandbox), a payload bound of at most 0.5 MB.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from wattbridge import Secret, http_url, is_loopback_url, positive_duration
from wattbridge_plugins.common.tls import TlsKeys

DEFAULT_URL = "https://www.energinet.net/apiImport/data"
MAX_SENDERS = 50
"""energinet.net: "Maximum 50 individual sender profiles per import"."""
PLATFORM_INTERVAL = timedelta(minutes=10)
"""energinet.net: "Each sender profile is allowed to make one request every 10 minutes"."""
MAX_PAYLOAD_BYTES = 500_000
"""energinet.net: "The maximum size of a data payload is 0.5 MB". Read as 500,000 bytes,
the stricter of 500,000 and 524,288, so a payload within it passes either reading."""
MAX_METER_ID = 200

TimeStyle = Literal["minutes", "seconds", "offset"]


def _check_meters(_instance: Any, _attribute: Any, meters: dict[str, str]) -> None:
    if not meters:
        raise ValueError("meters is empty: map at least one stream to a meter ID")
    for stream, meter_id in meters.items():
        if not meter_id.strip() or len(meter_id) > MAX_METER_ID:
            raise ValueError(
                f"meters: {stream!r} needs a meter ID (the import identifier) of 1 to "
                f"{MAX_METER_ID} characters, not {meter_id!r}"
            )


@attrs.frozen
class SenderProfile:
    """One sender of the import: its bearer token and the meters it sends for."""

    token: Secret
    """The sender's API token, from Energinet's import settings."""
    meters: dict[str, str] = attrs.field(validator=_check_meters)
    """Stream name -> meter ID (the meter's import identifier in Energinet)."""


def _check_senders(_instance: Any, _attribute: Any, senders: dict[str, SenderProfile]) -> None:
    if not senders:
        raise ValueError("senders is empty: add at least one [sinks.NAME.senders.PROFILE] table")
    if len(senders) > MAX_SENDERS:
        raise ValueError(
            f"senders has {len(senders)} profiles; energinet.net allows at most "
            f"{MAX_SENDERS} sender profiles per import: use a second import (another sink)"
        )
    owner: dict[str, str] = {}
    for name, profile in senders.items():
        for stream in profile.meters:
            if stream in owner:
                raise ValueError(
                    f"senders: stream {stream!r} is mapped by both {owner[stream]!r} and "
                    f"{name!r}; a stream must belong to one sender profile"
                )
            owner[stream] = name


def _check_timezone(_instance: Any, _attribute: Any, name: str) -> None:
    if name == "UTC":
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone {name!r} is not a known IANA zone (e.g. 'UTC', 'Europe/Oslo')"
        ) from None


def _check_payload(_instance: Any, _attribute: Any, size: int) -> None:
    if not 1_000 <= size <= MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"max_payload_bytes must be between 1000 and {MAX_PAYLOAD_BYTES} "
            f"(energinet.net's 0.5 MB), not {size}"
        )


def _check_interval(instance: Any, attribute: Any, interval: timedelta) -> None:
    positive_duration(instance, attribute, interval)
    if interval < PLATFORM_INTERVAL and not is_loopback_url(instance.url):
        raise ValueError(
            "request_interval must be at least 10m: energinet.net allows one request per "
            "sender profile every 10 minutes (shorter only towards a loopback sandbox URL)"
        )


@attrs.frozen
class EnerginetConfig(TlsKeys):
    """Keys of a ``plugin = "energinet"`` sink table (and the TLS keys)."""

    senders: dict[str, SenderProfile] = attrs.field(validator=_check_senders)
    """Sender profile name -> its token and meters (1 to 50 profiles)."""
    url: str = attrs.field(default=DEFAULT_URL, validator=http_url())
    """The import endpoint."""
    timezone: str = attrs.field(default="UTC", validator=_check_timezone)
    """The zone timestamps are written in (the platform's example has no offset)."""
    time_format: TimeStyle = "minutes"
    """minutes: 2023-02-02T01:00 (as documented); seconds: 2023-02-02T01:00:00;
    offset: 2023-02-02T01:00:00+01:00 (Z for UTC)."""
    request_interval: timedelta = attrs.field(default=PLATFORM_INTERVAL, validator=_check_interval)
    """Least time between two requests of one sender profile (at least 10m)."""
    request_margin: timedelta = attrs.field(
        default=timedelta(seconds=5), validator=attrs.validators.ge(timedelta(0))
    )
    """Added to request_interval, so clock jitter never lands a request inside the window."""
    max_payload_bytes: int = attrs.field(default=MAX_PAYLOAD_BYTES, validator=_check_payload)
    """Bound on one request's body, in encoded bytes."""
    max_age_margin: timedelta = attrs.field(
        default=timedelta(days=1), validator=attrs.validators.ge(timedelta(0))
    )
    """Readings within this much of the five-year limit are refused too (clock skew)."""
    timeout: timedelta = attrs.field(
        default=timedelta(seconds=60), validator=attrs.validators.gt(timedelta(0))
    )
    """How long one request may take before it counts as failed (and is retried)."""

    @property
    def time_resolution(self) -> timedelta:
        """The timestamps this sink can write: whole minutes with time_format "minutes"
        (the documented format), whole seconds otherwise. ``wattbridge check`` refuses
        a route whose source gives finer ones (a meter polled every 10s, unresampled)."""
        return timedelta(minutes=1) if self.time_format == "minutes" else timedelta(seconds=1)
