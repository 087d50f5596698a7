"""TLS: the sink checks the platform's certificate by default, and ``ca_file`` points
it at a private CA. The sandbox serves HTTPS with a certificate made here by openssl."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wattbridge import Reading
from wattbridge.testing import make_certificates


def make_sandbox_certificates(folder: Path) -> Path:
    """The sandbox serves HTTPS when its state folder holds cert.pem and key.pem:
    put a test CA's server certificate there; return the CA's path."""
    files = make_certificates(folder)
    shutil.copy(files.cert, folder / "cert.pem")
    shutil.copy(files.key, folder / "key.pem")
    return files.ca


@pytest.fixture
def tls_sandbox(tmp_path: Path, wattbridge_sandbox: Callable[[str], Any]) -> tuple[Any, Path]:
    ca = make_sandbox_certificates(
        tmp_path / "sandboxes" / "energydata"
    )  # the fixture's state folder
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
