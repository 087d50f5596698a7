"""Issue 14, item 9: no token or password in clear text to another machine unless the
table says ``insecure = true``, and a warning when it does.

Config refusals go through the config loader (the path ``wattbridge check`` takes); the
warnings come from the plugins themselves as they start. 192.0.2.10 is TEST-NET-1
(RFC 5737): a host that is not this machine and never answers.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from wattbridge import ConfigError, SinkContext, SourceContext, is_loopback_host
from wattbridge.commands import Registry
from wattbridge.testing import plugin_config, wait_until

REMOTE = "192.0.2.10"

PLAIN = {
    ("sinks", "energydata-mqtt"): (
        {"token": "t", "prefix": "p", "datastreams": ["s"], "tls": False, "port": 1883},
        "host",
        "tls: the token (the MQTT user name) would go in clear text to {host}",
    ),
    ("sources", "mqtt"): (
        {"subscriptions": [{"topic": "t"}], "username": "u", "password": "pw", "port": 1883},
        "host",
        "tls: the MQTT user name and password would go in clear text to {host}",
    ),
    ("sources", "homeassistant"): (
        {"token": "t"},
        "url",
        "url: the access token would go in clear text to {host}",
    ),
}


def host_keys(key: str, host: str) -> dict[str, str]:
    return {"url": f"http://{host}:8123"} if key == "url" else {"host": host}


@pytest.mark.parametrize(("kind", "plugin"), sorted(PLAIN))
@pytest.mark.parametrize("host", [REMOTE, "homeassistant.local", "broker.example.net"])
def test_plain_text_to_another_machine_is_refused_naming_the_key(
    kind: str, plugin: str, host: str, tmp_path: Path, wattbridge_registry: Registry
) -> None:
    keys, where, message = PLAIN[kind, plugin]
    with pytest.raises(ConfigError) as refused:
        plugin_config(wattbridge_registry, kind, plugin, tmp_path, **keys, **host_keys(where, host))
    assert message.format(host=host) in str(refused.value)
    assert "insecure = true" in str(refused.value)


@pytest.mark.parametrize(("kind", "plugin"), sorted(PLAIN))
@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1"])
def test_plain_text_to_this_machine_is_taken(
    kind: str, plugin: str, host: str, tmp_path: Path, wattbridge_registry: Registry
) -> None:
    keys, where, _ = PLAIN[kind, plugin]
    address = f"[{host}]" if ":" in host and where == "url" else host
    config = plugin_config(
        wattbridge_registry, kind, plugin, tmp_path, **keys, **host_keys(where, address)
    )
    assert config.insecure is False


@pytest.mark.parametrize(("kind", "plugin"), sorted(PLAIN))
def test_insecure_lets_plain_text_through(
    kind: str, plugin: str, tmp_path: Path, wattbridge_registry: Registry
) -> None:
    keys, where, _ = PLAIN[kind, plugin]
    config = plugin_config(
        wattbridge_registry, kind, plugin, tmp_path, **keys, **host_keys(where, REMOTE),
        insecure=True,
    )  # fmt: skip
    assert config.insecure is True


def test_insecure_never_opens_the_platform_broker(
    tmp_path: Path, wattbridge_registry: Registry
) -> None:
    keys = {"token": "t", "prefix": "p", "datastreams": ["s"], "tls": False, "insecure": True}
    with pytest.raises(ConfigError, match="tls and verify_tls stay on"):
        plugin_config(wattbridge_registry, "sinks", "energydata-mqtt", tmp_path, **keys)


def test_an_anonymous_subscription_carries_no_secret_and_is_taken(
    tmp_path: Path, wattbridge_registry: Registry
) -> None:
    config = plugin_config(
        wattbridge_registry, "sources", "mqtt", tmp_path,
        subscriptions=[{"topic": "t"}], host=REMOTE,
    )  # fmt: skip
    assert config.tls is False


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("[::1]", True), ("LOCALHOST.", True),
     ("127.255.0.1", True), ("10.0.0.1", False), ("localhost.example", False), ("", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


# -- the warning as each plugin starts --------------------------------------------


class _Memory(dict[str, str]):
    """A SinkState in memory: the warning needs no durable state."""

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self.pop(key, None)
        else:
            self[key] = value


def _context(kind: str, tmp_path: Path, logger: logging.Logger) -> Any:
    if kind == "sinks":
        return SinkContext("under_test", tmp_path, logger, _Memory())
    return SourceContext("under_test", tmp_path, logger)


@pytest.mark.parametrize(("kind", "plugin"), sorted(PLAIN))
def test_insecure_is_warned_when_the_plugin_starts(
    kind: str,
    plugin: str,
    tmp_path: Path,
    wattbridge_registry: Registry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys, where, message = PLAIN[kind, plugin]
    config = plugin_config(
        wattbridge_registry, kind, plugin, tmp_path, **keys, **host_keys(where, REMOTE),
        insecure=True, **({"connect_timeout": "1s"} if plugin == "homeassistant" else {}),
    )  # fmt: skip
    logger = logging.getLogger(f"test.plain.{plugin}")
    registered = getattr(wattbridge_registry, kind)[plugin]
    made = registered.factory(config, _context(kind, tmp_path, logger))
    what = message.split(": ", 1)[1].split(" would go")[0]
    expected = f"{what} goes in clear text to {REMOTE} (insecure = true)"
    with caplog.at_level(logging.WARNING, logger=logger.name):
        if kind == "sinks":
            made.open()
            made.close()
        else:
            thread = threading.Thread(target=made.start, args=(lambda _readings: None,))
            thread.start()
            try:
                wait_until(lambda: expected in caplog.text, timeout=15, message="the warning")
            finally:
                made.stop()
                thread.join(15)
            assert not thread.is_alive()
    assert expected in caplog.text
