"""The nats_cluster fixture: a real nats-server cluster on loopback, for the NATS sink's
and source's tests (it fails with the install hint when nats-server is missing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from wattbridge_plugins.common.nats_server import NatsCluster, running_cluster


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[Callable[..., NatsCluster]]:
    """``nats_cluster(size, token=None)``: a started JetStream cluster of ``size`` nodes
    (clients must present ``token``, if given)."""
    with ExitStack() as stack:

        def start(size: int = 3, token: str | None = None) -> NatsCluster:
            folder = tmp_path / f"nats-{size}"
            try:
                return stack.enter_context(running_cluster(folder, size, token))
            except RuntimeError as exc:
                pytest.fail(str(exc))

        yield start
