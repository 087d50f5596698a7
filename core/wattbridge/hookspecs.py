"""Every hook wattbridge calls, grouped by the phase in which it is called.

Implement them in a plugin module with ``@wattbridge.hookimpl``. Hook names are checked
when plugins load: an implementation of a hook that is not listed here is an error.
Each hook is documented in docs/hooks.md too; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from wattbridge.readings import Reading
    from wattbridge.runtime import Runtime

hookspec = pluggy.HookspecMarker("wattbridge")

# -------------------------------------------------------------------------
# Registration: called once, when the plugin manager is built, before any config
# is read. Each hook receives a ``register`` callback and may call it several times.
# -------------------------------------------------------------------------


@hookspec
def wattbridge_register_sources(register: Callable[..., None]) -> None:
    """Register source types.

    Call ``register(name, source_class, config_class)`` once per type, where ``name`` is
    what a config's ``plugin = "..."`` names, ``config_class`` an attrs class whose fields
    are the keys the source accepts, and ``source_class`` is built as
    ``source_class(config, context)`` and is polled (has ``poll()``) or pushed (has
    ``start(emit)`` and ``stop()``); see :mod:`wattbridge.sources`. Returns nothing.
    A name registered twice is an error.
    """


@hookspec
def wattbridge_register_sinks(register: Callable[..., None]) -> None:
    """Register sink types.

    Call ``register(name, sink_class, config_class)`` once per type. ``sink_class`` is
    built as ``sink_class(config, context)`` and implements :class:`wattbridge.sinks.Sink`.
    Returns nothing. A name registered twice is an error.
    """


@hookspec
def wattbridge_register_sandboxes(register: Callable[..., None]) -> None:
    """Register local imitations of platforms, for ``wattbridge sandbox`` and tests.

    Call ``register(name, start)`` where ``start(host, port, state_dir)`` starts the server
    in a background thread and returns an object with ``url`` (str), ``tokens``
    (mapping of a description to a token the sandbox accepts) and ``stop()``.
    Returns nothing.
    """


@hookspec
def wattbridge_register_commands(register: Callable[..., None]) -> None:
    """Add sub-commands to the ``wattbridge`` command line.

    Call ``register(name, add_arguments, run, help)``: ``add_arguments(parser)`` adds the
    command's options to an argparse parser; ``run(args)`` does the work and returns the
    process exit code (see :mod:`wattbridge.exitcodes`). Returns nothing.
    """


# -------------------------------------------------------------------------
# Lifecycle: called by ``wattbridge run`` (and the Home Assistant component).
# -------------------------------------------------------------------------


@hookspec
def wattbridge_startup(runtime: Runtime) -> None:
    """Called once the config is loaded and every source and sink is built, before the
    first poll or flush. ``runtime.config`` is the loaded config. Returns nothing;
    raising stops start-up with the error."""


@hookspec
def wattbridge_shutdown(runtime: Runtime) -> None:
    """Called once, after every source has stopped and the last flush has ended, before
    the outboxes close. Returns nothing; what it raises is logged and ignored."""


# -------------------------------------------------------------------------
# Routing: called for every reading on its way from the bus to a sink's outbox.
# -------------------------------------------------------------------------


@hookspec
def wattbridge_transform_reading(reading: Reading, source: str, sink: str) -> Any:
    """Change or drop a reading before it is queued for ``sink``.

    Called after the route has mapped the stream name, once per (reading, sink). Return
    ``None`` to leave the reading as it is, a new :class:`~wattbridge.Reading` to replace
    it (the next implementation sees the replacement), or ``False`` to drop it for this
    sink (counted as filtered in ``wattbridge status``). Implementations are chained in
    registration order; not firstresult.
    """


# -------------------------------------------------------------------------
# Delivery: called by the core as a sink's outbox is drained.
# -------------------------------------------------------------------------


@hookspec
def wattbridge_deadlettered(sink: str, readings: list[Reading], reason: str) -> None:
    """Called after readings were moved to ``sink``'s dead-letter table with the
    platform's ``reason``, for alerting. Returns nothing; what it raises is logged."""
