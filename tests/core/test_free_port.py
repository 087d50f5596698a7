"""free_port: ports a test server can bind, never repeated in a process, and outside the
range the kernel gives outgoing connections (which could take one before the server
binds it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from wattbridge.testing import free_port


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < floor for port in ports), (floor, sorted(ports)[-3:])
    for port in ports[:20]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    from wattbridge import _testpeers

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        # The draw offers the busy port first, then one the test has not seen.
        draws = iter([taken, taken, 0])
        monkeypatch.setattr(_testpeers.random, "randrange", lambda *_: next(draws))
        port = free_port()
    assert port != taken
