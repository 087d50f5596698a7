"""The energinet.net sandbox, started by ``wattbridge sandbox energinet`` and by tests."""

from __future__ import annotations

from pathlib import Path

from wattbridge_plugins.sinks.energinet.sandbox.server import EnerginetSandbox


def start(host: str, port: int, state_dir: Path) -> EnerginetSandbox:
    """Start the sandbox on ``host``:``port`` (0: a free port), keeping state in ``state_dir``."""
    return EnerginetSandbox(host, port, state_dir)


__all__ = ["EnerginetSandbox", "start"]
