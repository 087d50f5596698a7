"""The shared TLS keys, against a real TLS server on loopback.

The server is Python's own ``ssl`` module with certificates the ``openssl`` command
made; each of the keys' three forms (an SSLContext, requests' ``verify`` and ``cert``)
is tried against it, and every plugin that talks to a server is checked to spell the
keys the same way and to refuse the first wave's spellings with the new name.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from wattbridge import ConfigError
from wattbridge.commands import Registry
from wattbridge.testing import TlsFiles, make_certificates, plugin_config
from wattbridge_plugins.common.tls import TlsKeys

SERVER_PLUGINS = {
    ("sinks", "energinet"): {"senders": {"p": {"token": "t", "meters": {"s": "m"}}}},
    ("sinks", "energydata-batch"): {"token": "t", "datastreams": {"1": "double"}},
    ("sinks", "energydata-mqtt"): {
        "token": "t", "prefix": "p", "datastreams": ["s"], "host": "127.0.0.1"
    },
    ("sources", "mqtt"): {"subscriptions": [{"topic": "t"}]},
    ("sources", "homeassistant"): {"url": "https://ha.local:8123", "token": "t"},
}  # fmt: skip


ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[TlsFiles, TlsFiles]:
    folder = tmp_path_factory.mktemp("tls")
    return make_certificates(folder, "server"), make_certificates(folder, "client")


def _https_server(certs: TlsFiles, client_ca: Path | None) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # so the thread sees ``stop`` (close() does not wake accept)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(65536)
                    conn.sendall(ANSWER)
            except (OSError, ssl.SSLError):
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(5)


@pytest.fixture
def server(certs: tuple[TlsFiles, TlsFiles]) -> Iterator[int]:
    yield from _https_server(certs[0], None)


@pytest.fixture
def mutual_server(certs: tuple[TlsFiles, TlsFiles]) -> Iterator[int]:
    yield from _https_server(certs[0], certs[1].ca)


def _handshake(context: ssl.SSLContext, port: int) -> None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost"),
    ):
        pass


def test_the_system_cas_refuse_a_private_certificate(server: int) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(TlsKeys().ssl_context(), server)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://localhost:{server}/", verify=TlsKeys().requests_verify(), timeout=5)


def test_ca_file_trusts_the_private_ca(server: int, certs: tuple[TlsFiles, TlsFiles]) -> None:
    keys = TlsKeys(ca_file=certs[0].ca)
    _handshake(keys.ssl_context(), server)
    answer = requests.get(f"https://localhost:{server}/", verify=keys.requests_verify(), timeout=5)
    assert answer.text == "ok"


def test_a_wrong_host_name_is_refused(server: int, certs: tuple[TlsFiles, TlsFiles]) -> None:
    context = TlsKeys(ca_file=certs[0].ca).ssl_context()
    with (
        socket.create_connection(("127.0.0.1", server), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="match"),
    ):
        context.wrap_socket(raw, server_hostname="not-the-server.example")


def test_verify_tls_off_accepts_any_certificate(server: int) -> None:
    keys = TlsKeys(verify_tls=False)
    _handshake(keys.ssl_context(), server)
    assert keys.requests_verify() is False


def test_client_certificate_for_a_server_that_asks(
    mutual_server: int, certs: tuple[TlsFiles, TlsFiles]
) -> None:
    server_certs, client_certs = certs
    anonymous = TlsKeys(ca_file=server_certs.ca)
    with pytest.raises((ssl.SSLError, OSError)):
        _handshake(anonymous.ssl_context(), mutual_server)
        # TLS 1.3 reports the refusal on the first read, after the handshake.
        requests.get(
            f"https://localhost:{mutual_server}/", verify=anonymous.requests_verify(), timeout=5
        )
    keys = TlsKeys(ca_file=server_certs.ca, cert_file=client_certs.cert, key_file=client_certs.key)
    _handshake(keys.ssl_context(), mutual_server)
    answer = requests.get(
        f"https://localhost:{mutual_server}/",
        verify=keys.requests_verify(),
        cert=keys.requests_cert(),
        timeout=5,
    )
    assert answer.text == "ok"


@pytest.mark.parametrize(("kind", "plugin"), sorted(SERVER_PLUGINS))
def test_every_server_plugin_has_the_same_tls_keys(
    kind: str,
    plugin: str,
    tmp_path: Path,
    certs: tuple[TlsFiles, TlsFiles],
    wattbridge_registry: Registry,
) -> None:
    keys = dict(SERVER_PLUGINS[kind, plugin])
    config = plugin_config(
        wattbridge_registry, kind, plugin, tmp_path, **keys, verify_tls=False,
        ca_file=str(certs[0].ca),
    )  # fmt: skip
    assert isinstance(config, TlsKeys)
    assert config.verify_tls is False and config.ca_file == certs[0].ca


@pytest.mark.parametrize(("kind", "plugin"), sorted(SERVER_PLUGINS))
def test_old_spellings_name_the_new_key(
    kind: str, plugin: str, tmp_path: Path, wattbridge_registry: Registry
) -> None:
    keys = dict(SERVER_PLUGINS[kind, plugin])
    with pytest.raises(ConfigError) as refused:
        plugin_config(
            wattbridge_registry, kind, plugin, tmp_path, **keys, verify=False, ca_bundle="c.pem"
        )
    text = str(refused.value)
    assert "verify: renamed to 'verify_tls'" in text
    assert "ca_bundle: renamed to 'ca_file'" in text


def test_missing_files_and_a_key_without_its_certificate_are_refused(
    tmp_path: Path, wattbridge_registry: Registry
) -> None:
    with pytest.raises(ConfigError) as refused:
        plugin_config(
            wattbridge_registry, "sinks", "energinet", tmp_path,
            **SERVER_PLUGINS["sinks", "energinet"], ca_file="nowhere.pem", key_file="nowhere.key",
        )  # fmt: skip
    text = str(refused.value)
    assert f"ca_file: ca_file '{tmp_path / 'nowhere.pem'}' is not a file" in text
    assert "key_file" in text


def test_the_platform_broker_keeps_its_checks(
    tmp_path: Path, wattbridge_registry: Registry
) -> None:
    keys = {"token": "t", "prefix": "p", "datastreams": ["s"]}
    for off in ({"verify_tls": False}, {"tls": False}):
        with pytest.raises(ConfigError, match="tls and verify_tls stay on"):
            plugin_config(wattbridge_registry, "sinks", "energydata-mqtt", tmp_path, **keys, **off)
