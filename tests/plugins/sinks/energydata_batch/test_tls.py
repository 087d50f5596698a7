"""TLS: the sink checks the platform's certificate by default, and ``ca_file`` points
it at a private CA. The sandbox serves HTTPS with a certificate made here by openssl."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wattbridge import Reading

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def make_certificates(folder: Path) -> Path:
    """A CA, and a certificate for 127.0.0.1 signed by it (in ``folder``); the CA's path."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "1", "-subj", "/CN=wattbridge test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1")  # fmt: skip
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n", encoding="ascii")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "cert.pem", "-days", "1", "-extfile", "ext.cnf")  # fmt: skip
    return folder / "ca.pem"


@pytest.fixture
def tls_sandbox(tmp_path: Path, wattbridge_sandbox: Callable[[str], Any]) -> tuple[Any, Path]:
    ca = make_certificates(tmp_path / "sandbox-energydata")  # the fixture's state folder
    server = wattbridge_sandbox("energydata")
    assert server.url.startswith("https://")
    return server, ca


def test_an_unknown_ca_is_refused_and_ca_file_trusts_it(
    tls_sandbox: tuple[Any, Path], run_sink: Callable[..., Any]
) -> None:
    server, ca = tls_sandbox
    keys = {"url": server.url, "token": server.tokens["write"],
            "datastreams": {"my/topic": "double"}, "poll_initial": "10ms"}  # fmt: skip
    reading = Reading("my/topic", datetime(2024, 1, 1, tzinfo=UTC), 1.0)
    strict = run_sink("energydata-batch", **keys)
    strict.queue([reading])
    strict.flush()
    status = strict.outbox.status()
    assert status.depth == 1 and "SSLError" in (status.last_error or "")
    assert server.imports() == []
    trusting = run_sink("energydata-batch", ca_file=str(ca), **keys)
    assert trusting.deliver([reading]) == []
    assert len(server.stored()) == 1
