"""The energinet.net sandbox, started by ``wattbridge sandbox energinet`` and by tests."""

from __future__ import annotations

import os
from pathlib import Path

from wattbridge_plugins.sinks.energinet.sandbox.server import EnerginetSandbox

WINDOW_ENV = "WATTBRIDGE_ENERGINET_SANDBOX_WINDOW"


def start(host: str, port: int, state_dir: Path) -> EnerginetSandbox:
    """Start the sandbox on ``host``:``port`` (0: a free port), keeping state in ``state_dir``.

    ``WATTBRIDGE_ENERGINET_SANDBOX_WINDOW`` (seconds, default 600) shortens the window per
    sender, to try a config with a short loopback ``request_interval`` by hand.
    """
    sandbox = EnerginetSandbox(host, port, state_dir)
    window = os.environ.get(WINDOW_ENV)
    if window:
        sandbox.window = float(window)
    return sandbox


__all__ = ["EnerginetSandbox", "start"]
