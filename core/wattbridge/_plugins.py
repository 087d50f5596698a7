"""The plugin manager: built-in plugins and installed ones, loaded the same way.

Built-ins are listed in :data:`DEFAULT_PLUGINS`; third-party packages declare an entry
point in the ``wattbridge`` group. Both are imported as modules and registered with
pluggy under their name, then every registration hook is called once to build the
:class:`Registry` of source, sink, sandbox and command types.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

import attrs
import pluggy

from wattbridge import _hookspecs as hookspecs
from wattbridge._errors import PluginError

DEFAULT_PLUGINS: tuple[str, ...] = (
    "wattbridge_plugins.sinks.jsonl",
    "wattbridge_plugins.sinks.energydata.batch",
    "wattbridge_plugins.sinks.energydata.sandbox",
    "wattbridge_plugins.sinks.energinet",
    "wattbridge_plugins.sources.replay",
    "wattbridge_plugins.sources.modbus",
    "wattbridge_plugins.sources.csv_folder",
    "wattbridge_plugins.sinks.energydata.mqtt",
    "wattbridge_plugins.sources.mqtt",
    "wattbridge_plugins.sources.homeassistant",
    "wattbridge_plugins.sinks.nats",
    "wattbridge_plugins.sources.nats",
    "wattbridge_plugins.commands.demo",
)
"""Modules of the built-in plugins, registered exactly as entry points are."""

ENTRY_POINT_GROUP = "wattbridge"

DISABLE_ENTRY_POINTS_ENV = "WATTBRIDGE_DISABLE_PLUGIN_AUTOLOAD"
"""Set to 1 to load only the built-ins (as pytest's PYTEST_DISABLE_PLUGIN_AUTOLOAD)."""

DISABLE_PLUGINS_ENV = "WATTBRIDGE_DISABLE_PLUGINS"
"""Comma-separated entry-point names not to load (as ``--disable-plugin NAME``)."""


def disabled_from_env() -> set[str]:
    """The plugin names :data:`DISABLE_PLUGINS_ENV` lists."""
    return {n.strip() for n in os.environ.get(DISABLE_PLUGINS_ENV, "").split(",") if n.strip()}


@attrs.frozen
class PluginType:
    """A source or sink type: its name in configs, its classes, and who provides it."""

    name: str
    factory: Callable[..., Any]
    config_class: type
    plugin: str
    version: str


@attrs.frozen
class Sandbox:
    """A local imitation of a platform that a plugin provides."""

    name: str
    start: Callable[..., Any]
    plugin: str


@attrs.frozen
class Command:
    """A ``wattbridge`` sub-command that a plugin adds."""

    name: str
    add_arguments: Callable[..., None]
    run: Callable[..., int]
    help: str
    plugin: str


@attrs.frozen
class BrokenPlugin:
    """An installed plugin that failed to import: it is left out, and shown as broken."""

    name: str
    value: str
    error: str


@attrs.define
class Registry:
    """Everything the loaded plugins registered, by name; ``broken`` lists the installed
    plugins that failed to import (left out, so every other command still works)."""

    manager: pluggy.PluginManager
    sources: dict[str, PluginType] = attrs.Factory(dict)
    sinks: dict[str, PluginType] = attrs.Factory(dict)
    sandboxes: dict[str, Sandbox] = attrs.Factory(dict)
    commands: dict[str, Command] = attrs.Factory(dict)
    broken: list[BrokenPlugin] = attrs.Factory(list)
    disabled: list[str] = attrs.Factory(list)

    @property
    def hook(self) -> Any:
        """The pluggy hook caller (``registry.hook.wattbridge_startup(...)``)."""
        return self.manager.hook


def new_manager() -> pluggy.PluginManager:
    """An empty plugin manager with wattbridge's hook specifications."""
    manager = pluggy.PluginManager("wattbridge")
    manager.add_hookspecs(hookspecs)
    return manager


def load_plugins(
    extra: list[object] | None = None,
    *,
    entry_points: bool | None = None,
    disable: set[str] | None = None,
    builtins: Sequence[str] = DEFAULT_PLUGINS,
) -> Registry:
    """Load the built-ins, the installed entry points and ``extra`` plugin objects.

    ``entry_points`` defaults to on unless WATTBRIDGE_DISABLE_PLUGIN_AUTOLOAD=1 is set;
    entry points named in ``disable`` (default: WATTBRIDGE_DISABLE_PLUGINS) are skipped.
    ``builtins`` narrows the built-ins to those an embedder ships: the Home Assistant
    component runs sinks only and carries no Modbus client, for instance.
    An entry point that fails to import is left out and listed in ``Registry.broken``,
    so one broken third-party package does not stop every command. Raises
    :class:`PluginError` for a hook name that is not specified, a type name registered
    twice, or a registration that is not of the documented shape.
    """
    disable = disabled_from_env() if disable is None else disable
    broken: list[BrokenPlugin] = []
    disabled: list[str] = []
    manager = new_manager()
    versions: dict[str, str] = {}
    own_version = _version("wattbridge")
    for module_name in builtins:
        manager.register(importlib.import_module(module_name), name=module_name)
        versions[module_name] = own_version
    if entry_points is None:
        entry_points = os.environ.get(DISABLE_ENTRY_POINTS_ENV, "") not in ("1", "true")
    if entry_points:
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if manager.get_plugin(entry_point.name) is not None:
                continue
            if entry_point.name in disable:
                disabled.append(entry_point.name)
                continue
            try:
                module = entry_point.load()
            except Exception as exc:
                broken.append(
                    BrokenPlugin(
                        entry_point.name, entry_point.value, f"{type(exc).__name__}: {exc}"
                    )
                )
                continue
            manager.register(module, name=entry_point.name)
            dist = entry_point.dist
            versions[entry_point.name] = dist.version if dist is not None else "?"
    for index, plugin in enumerate(extra or []):
        name = getattr(plugin, "__name__", None) or f"extra-{index}"
        manager.register(plugin, name=name)
        versions[name] = getattr(plugin, "__version__", "?")
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"unknown hook: {exc}") from exc
    registry = _collect(manager, versions)
    registry.broken = broken
    registry.disabled = disabled
    return registry


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _collect(manager: pluggy.PluginManager, versions: dict[str, str]) -> Registry:
    registry = Registry(manager=manager)
    hook = manager.hook

    def each_impl(hook_caller: Any, call: Callable[[Any, str], None]) -> None:
        for impl in hook_caller.get_hookimpls():
            plugin_name = impl.plugin_name
            call(impl, plugin_name)

    def type_registrar(kind: str, table: dict[str, PluginType], plugin: str) -> Callable[..., None]:
        def register(name: str, factory: Callable[..., Any], config_class: type) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"{plugin}: a {kind} type needs a non-empty name")
            if not attrs.has(config_class):
                raise PluginError(f"{plugin}: {kind} {name!r}: config class must be an attrs class")
            if name in table:
                raise PluginError(
                    f"{kind} type {name!r} is registered by both {table[name].plugin} and {plugin}"
                )
            table[name] = PluginType(name, factory, config_class, plugin, versions.get(plugin, "?"))

        return register

    def sandbox_registrar(plugin: str) -> Callable[..., None]:
        def register(name: str, start: Callable[..., Any]) -> None:
            if name in registry.sandboxes:
                raise PluginError(f"sandbox {name!r} is registered twice ({plugin})")
            registry.sandboxes[name] = Sandbox(name, start, plugin)

        return register

    def command_registrar(plugin: str) -> Callable[..., None]:
        def register(
            name: str, add_arguments: Callable[..., None], run: Callable[..., int], help: str = ""
        ) -> None:
            if name in registry.commands:
                raise PluginError(f"command {name!r} is registered twice ({plugin})")
            registry.commands[name] = Command(name, add_arguments, run, help, plugin)

        return register

    # Each implementation gets a register callback that knows which plugin it is, so
    # `wattbridge plugins` can say who provides what.
    each_impl(
        hook.wattbridge_register_sources,
        lambda impl, p: impl.function(register=type_registrar("source", registry.sources, p)),
    )
    each_impl(
        hook.wattbridge_register_sinks,
        lambda impl, p: impl.function(register=type_registrar("sink", registry.sinks, p)),
    )
    each_impl(
        hook.wattbridge_register_sandboxes,
        lambda impl, p: impl.function(register=sandbox_registrar(p)),
    )
    each_impl(
        hook.wattbridge_register_commands,
        lambda impl, p: impl.function(register=command_registrar(p)),
    )
    return registry
