"""The keys of a ``plugin = "energydata-batch"`` sink table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from wattbridge import Secret, http_url, positive_duration
from wattbridge_plugins.common.energydata_csv import STREAM_TYPES, StreamType
from wattbridge_plugins.common.tls import TlsKeys


def _check_datastreams(_instance: Any, _attribute: Any, value: dict[str, StreamType]) -> None:
    if not value:
        raise ValueError(
            "datastreams: map at least one datastream id or topic to its type, "
            'e.g. datastreams = {"117218" = "double"}'
        )
    for name, kind in value.items():
        if not name.strip() or name != name.strip():
            raise ValueError(f"datastreams: {name!r} is not a datastream id or topic")
        if kind not in STREAM_TYPES:
            raise ValueError(f"datastreams: {name}: type must be one of {', '.join(STREAM_TYPES)}")


@attrs.frozen
class EnergyDataBatchConfig(TlsKeys):
    """Keys of a ``plugin = "energydata-batch"`` sink table and the TLS keys (see the
    plugin's README)."""

    token: Secret
    """A token with write rights to the datasets: a string, {env = "VAR"} or {file = "path"}."""
    datastreams: dict[str, StreamType] = attrs.field(validator=_check_datastreams)
    """Each datastream's id or topic (the stream name after routing) and its type."""
    url: str = attrs.field(default="https://admin.energydata.dk", validator=http_url())
    """The platform; the sandbox's URL for trying a config offline."""
    import_size: int = attrs.field(default=100_000, validator=attrs.validators.ge(1))
    """Readings in one import at most; a larger backlog becomes several imports."""
    errors_limit: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    """Bad lines the platform may skip before it fails the whole import."""
    import_name: str = "wattbridge"
    """Prefix of each import's name (the rest names the queue position and part)."""
    poll_initial: timedelta = attrs.field(default=timedelta(seconds=1), validator=positive_duration)
    """First wait before asking an import's status; doubles up to poll_max."""
    poll_max: timedelta = attrs.field(default=timedelta(seconds=30), validator=positive_duration)
    timeout: timedelta = attrs.field(default=timedelta(seconds=60), validator=positive_duration)
    """How long one HTTP request may take (uploads of big files included)."""
