"""Fixtures for the modbus source's tests: simulated meters on real pymodbus servers,
and a serial line made of a socat pty pair."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wattbridge_plugins.sources.modbus.simulator import MeterServer, SimulatedMeter


@pytest.fixture
def meter_server() -> Iterator[Callable[..., MeterServer]]:
    """``meter_server(meters, **options)``: a started :class:`MeterServer`, closed after."""
    servers: list[MeterServer] = []

    def start(meters: list[SimulatedMeter] | None = None, **options: Any) -> MeterServer:
        server = MeterServer(meters or [SimulatedMeter(1)], **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two linked serial ports (client end, server end) made by socat."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail(
            "socat is needed to test Modbus RTU over a serial line: "
            "apt-get install -y socat (Debian/Ubuntu)"
        )
    client, server = tmp_path / "ttyClient", tmp_path / "ttyServer"
    process = subprocess.Popen(
        [
            socat,
            f"pty,raw,echo=0,link={client}",
            f"pty,raw,echo=0,link={server}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while not (client.exists() and server.exists()):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("socat did not create the pty pair")
        time.sleep(0.02)
    yield str(client), str(server)
    process.terminate()
    process.wait(5)
