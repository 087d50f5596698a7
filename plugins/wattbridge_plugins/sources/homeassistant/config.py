"""The keys of a ``plugin = "homeassistant"`` source table."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import attrs

from wattbridge import Secret, positive_duration, refuse_plain_text
from wattbridge_plugins.common.tls import TlsKeys


def _websocket_url(url: str) -> str:
    """Accept HA's base URL as users copy it (http://host:8123) as well as the ws URL."""
    url = url.strip().rstrip("/")
    for plain, socket in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(plain):
            url = socket + url[len(plain) :]
    if not url.startswith(("ws://", "wss://")):
        raise ValueError(f"url {url!r} must start with ws://, wss://, http:// or https://")
    if not url.endswith("/api/websocket"):
        url += "/api/websocket"
    return url


def _token_encrypted(instance: HomeAssistantConfig, _attribute: object, _value: bool) -> None:
    if instance.url.startswith("ws://"):
        refuse_plain_text(instance, "url", instance.host, "the access token")


@attrs.frozen
class HomeAssistantConfig(TlsKeys):
    """Keys of a ``plugin = "homeassistant"`` source table; the TLS keys apply to wss://."""

    url: str = attrs.field(converter=_websocket_url)
    """HA's address: ``http://homeassistant.local:8123`` or its websocket URL
    (``ws(s)://host:8123/api/websocket``); https/wss verify the certificate."""
    token: Secret
    """A long-lived access token (HA: your profile > Security > Long-lived access tokens)."""
    include_entities: list[str] = attrs.field(factory=list)
    """Entity ids or globs to read, e.g. ``sensor.*_energy``."""
    include_domains: list[str] = attrs.field(factory=list)
    """Domains to read, e.g. ``sensor``."""
    include_device_classes: list[str] = attrs.field(factory=list)
    """Device classes to read, e.g. ``energy`` and ``power``."""
    exclude_entities: list[str] = attrs.field(factory=list)
    """Entity ids or globs never to read (an exclude beats an include)."""
    exclude_domains: list[str] = attrs.field(factory=list)
    exclude_device_classes: list[str] = attrs.field(factory=list)
    connect_timeout: timedelta = attrs.field(
        default=timedelta(seconds=10), validator=positive_duration
    )
    heartbeat: timedelta = attrs.field(default=timedelta(seconds=30), validator=positive_duration)
    """Ping HA when it was quiet this long, to notice a dead connection."""
    reconnect_initial: timedelta = attrs.field(
        default=timedelta(seconds=1), validator=positive_duration
    )
    reconnect_max: timedelta = attrs.field(
        default=timedelta(minutes=1), validator=positive_duration
    )
    """Reconnect backoff: doubles from ``reconnect_initial`` up to this."""
    insecure: bool = attrs.field(default=False, validator=_token_encrypted)
    """Allow the token in clear text (http:// or ws://) to a Home Assistant on another
    machine; refused without it, warned with it."""

    @property
    def host(self) -> str:
        """The host part of :attr:`url`."""
        return urlsplit(self.url).hostname or ""
