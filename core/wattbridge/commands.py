"""What programs built on wattbridge use: sub-commands that plugins add, and embedders
such as the Home Assistant component.

A command registered with ``wattbridge_register_commands`` gets the parsed arguments;
with these it reads the config the same way the built-in commands do, builds a sink as
``wattbridge run`` does (:func:`open_sink`), and ends with a message and an exit code
(see :mod:`wattbridge.exitcodes`) instead of a traceback.

An embedder loads the plugins (:func:`load_plugins`), builds a config from data
(:func:`config_from_data`) and runs it with :class:`Runtime`.

A sandbox (``wattbridge_register_sandboxes``) makes its throw-away TLS certificates with
:func:`make_certificates`, finds a broker with :func:`mosquitto_binary` and stops the
programs it started with :func:`stop_process`.
"""

from __future__ import annotations

from wattbridge._cli import add_config_argument, main, read_config
from wattbridge._config import Config, config_from_data, load_config
from wattbridge._errors import CommandFailed
from wattbridge._logs import setup_logging
from wattbridge._opensink import OpenedSink, open_sink
from wattbridge._outbox import DeadLetter, OutboxStatus
from wattbridge._plugins import DEFAULT_PLUGINS, Registry, load_plugins
from wattbridge._programs import TlsFiles, make_certificates, mosquitto_binary, stop_process
from wattbridge._runtime import Runtime
from wattbridge._secret import RedactingFilter

__all__ = [
    "DEFAULT_PLUGINS",
    "CommandFailed",
    "Config",
    "DeadLetter",
    "OpenedSink",
    "OutboxStatus",
    "RedactingFilter",
    "Registry",
    "Runtime",
    "TlsFiles",
    "add_config_argument",
    "config_from_data",
    "load_config",
    "load_plugins",
    "main",
    "make_certificates",
    "mosquitto_binary",
    "open_sink",
    "read_config",
    "setup_logging",
    "stop_process",
]
