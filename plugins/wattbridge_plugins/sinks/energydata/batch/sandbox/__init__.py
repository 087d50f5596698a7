"""The EnergyData.dk sandbox: a local imitation of the platform's import and fetch APIs."""

from wattbridge_plugins.sinks.energydata.batch.sandbox.server import SandboxServer, start

__all__ = ["SandboxServer", "start"]
