"""Certificates are checked by default: a self-signed server is refused until its CA is
given with ``ca_file``. The server is the sandbox behind real TLS on loopback, with
a certificate signed by a test CA."""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime, timedelta

import pytest

from wattbridge import Reading
from wattbridge.testing import make_certificates
from wattbridge_plugins.sinks.energinet.sandbox.server import EnerginetSandbox


@pytest.fixture
def tls_sandbox(tmp_path):
    files = make_certificates(tmp_path / "tls")
    cert, key = files.cert, files.key
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = EnerginetSandbox("127.0.0.1", 0, tmp_path / "sandbox", ssl_context=context)
    server.add_meters(["M1"])
    yield server, files.ca
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
        time.time, outbox="trusting", url=server.url, senders=senders, ca_file=str(cert)
    )
    trusting.queue([reading])
    trusting.worker.flush()
    assert trusting.outbox.depth == 0
    assert list(server.values("M1")["M1"].values()) == [2.0]
