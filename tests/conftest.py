"""Shared test set-up: wattbridge's own pytest plugin, as plugin authors use it, and a
hypothesis profile for a busy 2-core CI machine (no per-example deadline, no
too-slow health check: timing is what bench/ measures, not tests)."""

from hypothesis import HealthCheck, settings

pytest_plugins = ["wattbridge.testing"]

settings.register_profile("wattbridge", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("wattbridge")
