"""Every hook wattbridge calls, grouped by the phase in which it is called.

Implement them in a plugin module with ``@wattbridge.hookimpl``. Hook names are checked
when plugins load: an implementation of a hook that is not listed here is an error.
Each hook is documented in docs/hooks.md too; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import pluggy

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from wattbridge._readings import Reading
    from wattbridge._sinks import SharedRateLimits

hookspec = pluggy.HookspecMarker("wattbridge")


class SourceRegister(Protocol):
    """The callback ``wattbridge_register_sources`` receives."""

    def __call__(self, name: str, source_class: Callable[..., Any], config_class: type) -> None:
        """Register ``source_class`` (built as ``source_class(config, context)``) as
        ``name``, with ``config_class`` (an attrs class) for its keys."""


class SinkRegister(Protocol):
    """The callback ``wattbridge_register_sinks`` receives."""

    def __call__(self, name: str, sink_class: Callable[..., Any], config_class: type) -> None:
        """Register ``sink_class`` (built as ``sink_class(config, context)``) as
        ``name``, with ``config_class`` (an attrs class) for its keys."""


class SandboxRegister(Protocol):
    """The callback ``wattbridge_register_sandboxes`` receives."""

    def __call__(self, name: str, start: Callable[[str, int, Path], Any]) -> None:
        """Register ``start(host, port, state_dir)``, which starts the sandbox and
        returns an object with ``url``, ``tokens`` and ``stop()``."""


class CommandRegister(Protocol):
    """The callback ``wattbridge_register_commands`` receives."""

    def __call__(
        self,
        name: str,
        add_arguments: Callable[[ArgumentParser], None],
        run: Callable[[Namespace], int],
        help: str = "",
    ) -> None:
        """Register ``wattbridge <name>``: ``add_arguments(parser)`` adds its options,
        ``run(args)`` does the work and returns the exit code."""


@attrs.frozen
class StartupView:
    """What ``wattbridge_startup`` and ``wattbridge_shutdown`` see of a running config.

    ``sources`` and ``sinks`` map each configured name to its plugin's config object
    (an instance of the class the plugin registered); ``state_dir`` is where outboxes
    and plugin state live. Read-only: a plugin cannot reach the scheduler or outboxes.
    """

    sources: Mapping[str, Any]
    sinks: Mapping[str, Any]
    state_dir: Path


# -------------------------------------------------------------------------
# Registration: called once, when the plugin manager is built, before any config
# is read. Each hook receives a ``register`` callback and may call it several times.
# -------------------------------------------------------------------------


@hookspec
def wattbridge_register_sources(register: SourceRegister) -> None:
    """Register source types.

    Call ``register(name, source_class, config_class)`` once per type, where ``name`` is
    what a config's ``plugin = "..."`` names, ``config_class`` an attrs class whose fields
    are the keys the source accepts, and ``source_class`` is built as
    ``source_class(config, context)`` and is polled (has ``poll()``) or pushed (has
    ``start(emit)`` and ``stop()``); see :mod:`wattbridge._sources`. Returns nothing.
    A name registered twice is an error.
    """


@hookspec
def wattbridge_register_sinks(register: SinkRegister) -> None:
    """Register sink types.

    Call ``register(name, sink_class, config_class)`` once per type. ``sink_class`` is
    built as ``sink_class(config, context)`` and implements :class:`wattbridge._sinks.Sink`.
    Returns nothing. A name registered twice is an error.
    """


@hookspec
def wattbridge_register_sandboxes(register: SandboxRegister) -> None:
    """Register local imitations of platforms, for ``wattbridge sandbox`` and tests.

    Call ``register(name, start)`` where ``start(host, port, state_dir)`` starts the server
    in a background thread and returns an object with ``url`` (str), ``tokens``
    (mapping of a description to a token the sandbox accepts) and ``stop()``.
    Returns nothing.
    """


@hookspec
def wattbridge_register_commands(register: CommandRegister) -> None:
    """Add sub-commands to the ``wattbridge`` command line.

    Call ``register(name, add_arguments, run, help)``: ``add_arguments(parser)`` adds the
    command's options to an argparse parser; ``run(args)`` does the work and returns the
    process exit code (see :mod:`wattbridge._exitcodes`). Returns nothing.
    """


# -------------------------------------------------------------------------
# Lifecycle: called by ``wattbridge run`` (and the Home Assistant component).
# -------------------------------------------------------------------------


@hookspec
def wattbridge_startup(view: StartupView) -> None:
    """Called once the config is loaded and every source and sink is built, before the
    first poll or flush. ``view`` shows the configured sources and sinks (read-only).
    Returns nothing; raising stops start-up with the error."""


@hookspec
def wattbridge_shutdown(view: StartupView) -> None:
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


@hookspec(firstresult=True)
def wattbridge_shared_rate_limits(sink: str, sources: Mapping[str, Any]) -> SharedRateLimits | None:
    """Called once per sink when a runtime is built, after its sources: return a
    :class:`~wattbridge.SharedRateLimits` to keep the sink's per-credential request
    stamps where other processes read them too (a cluster's uplinks), or None.

    ``sources`` maps each source's name to the object its plugin built, so a plugin can
    hand out a store one of its own sources holds. Only sinks with ``min_interval``
    use it. firstresult: the first non-None answer is used.
    """
