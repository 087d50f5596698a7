"""Certificates are checked by default: a self-signed server is refused until its CA is
given with ``ca_bundle``. The server is the sandbox behind real TLS on loopback."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from wattbridge import Reading
from wattbridge_plugins.sinks.energinet.sandbox.server import EnerginetSandbox


@pytest.fixture
def tls_sandbox(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = EnerginetSandbox("127.0.0.1", 0, tmp_path / "sandbox", ssl_context=context)
    server.add_meters(["M1"])
    yield server, cert
    server.stop()


def test_an_unknown_certificate_is_refused_and_a_given_ca_accepted(tls_sandbox, make_sink):
    server, cert = tls_sandbox
    assert server.url.startswith("https://127.0.0.1:")
    senders = {"sender-1": {"token": server.tokens["sender-1"], "meters": {"s": "M1"}}}
    reading = Reading(
        "s", datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1), 2
    )
    refusing = make_sink(time.time, outbox="refusing", url=server.url, senders=senders)
    refusing.queue([reading])
    refusing.worker.flush()
    assert refusing.outbox.depth == 1
    assert "SSLError" in refusing.outbox.status().last_error
    assert server.requests() == []  # the token never left: the handshake failed first

    trusting = make_sink(
        time.time, outbox="trusting", url=server.url, senders=senders, ca_bundle=str(cert)
    )
    trusting.queue([reading])
    trusting.worker.flush()
    assert trusting.outbox.depth == 0
    assert list(server.values("M1")["M1"].values()) == [2.0]
