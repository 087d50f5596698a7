"""Building blocks for ``wattbridge`` sub-commands that plugins add.

A command registered with ``wattbridge_register_commands`` gets the parsed arguments;
with these it reads the config the same way the built-in commands do and ends with a
message and an exit code (see :mod:`wattbridge.exitcodes`) instead of a traceback.
"""

from __future__ import annotations

from wattbridge._cli import CommandFailed, add_config_argument, main, read_config

__all__ = ["CommandFailed", "add_config_argument", "main", "read_config"]
