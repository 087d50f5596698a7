"""The exit codes of the ``wattbridge`` command, for scripts to rely on."""

OK = 0
"""Done; for ``check``, the config is valid (warnings may have been printed)."""
FAILURE = 1
"""A run failed at run time (a source or sink could not start, an I/O error)."""
USAGE = 2
"""The command line is wrong (argparse's own code)."""
CONFIG = 3
"""The config has mistakes; each is printed with its file, line, table and key."""
PLUGIN = 4
"""A plugin is broken (an unknown hook, a type registered twice, an import error)."""
NOT_FOUND = 5
"""What was asked for does not exist (a sink name, an outbox that never ran)."""
INTERRUPTED = 130
"""Stopped by a second Ctrl-C before a clean stop finished."""
