"""Shared test set-up: wattbridge's own pytest plugin, as plugin authors use it."""

pytest_plugins = ["wattbridge.testing"]
