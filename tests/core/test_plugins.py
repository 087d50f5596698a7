"""Plugin loading: built-ins and entry points the same way; broken plugins are named."""

import re
from pathlib import Path

import attrs
import pytest

from wattbridge import _hookspecs as hookspecs
from wattbridge import hookimpl
from wattbridge._errors import PluginError
from wattbridge._plugins import DEFAULT_PLUGINS, load_plugins

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def test_builtins_are_registered_under_their_module_names():
    registry = load_plugins(entry_points=False)
    names = {name for name, _ in registry.manager.list_name_plugin()}
    assert set(DEFAULT_PLUGINS) <= names
    assert registry.sinks["jsonl"].plugin == "wattbridge_plugins.sinks.jsonl"
    assert registry.sources["replay"].version != "?"


def test_an_embedder_narrows_the_builtins_to_those_it_ships():
    sinks_only = tuple(name for name in DEFAULT_PLUGINS if ".sinks." in name)
    registry = load_plugins(builtins=sinks_only, entry_points=False)
    assert {"jsonl", "energinet", "energydata-mqtt", "energydata-batch"} <= set(registry.sinks)
    assert registry.sources == {}
    assert all(
        registry.manager.get_plugin(name) is None
        for name in DEFAULT_PLUGINS
        if name not in sinks_only
    )


def test_an_unknown_hook_name_is_an_error():
    class Typo:
        @staticmethod
        @hookimpl
        def wattbridge_register_sink(register):
            pass

    with pytest.raises(PluginError, match="unknown hook.*wattbridge_register_sink"):
        load_plugins([Typo], entry_points=False)


def test_a_type_registered_twice_names_both_plugins():
    @attrs.frozen
    class C:
        pass

    class Again:
        __name__ = "again"

        @staticmethod
        @hookimpl
        def wattbridge_register_sinks(register):
            register("jsonl", object, C)

    with pytest.raises(PluginError, match="'jsonl' is registered by both"):
        load_plugins([Again], entry_points=False)


def test_config_class_must_be_attrs():
    class NotAttrs:
        @staticmethod
        @hookimpl
        def wattbridge_register_sources(register):
            register("x", object, dict)

    with pytest.raises(PluginError, match="config class must be an attrs class"):
        load_plugins([NotAttrs], entry_points=False)


def test_every_hook_is_documented_in_docs():
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(wattbridge_\w+)", text, flags=re.MULTILINE))
    specified = {name for name in dir(hookspecs) if name.startswith("wattbridge_")}
    assert specified, "no hooks found"
    missing = specified - documented
    assert not missing, f"hooks missing from {DOCS}: {sorted(missing)}"
    assert not documented - specified, "docs describe hooks that do not exist"


def test_every_hookspec_has_a_docstring():
    for name in dir(hookspecs):
        if name.startswith("wattbridge_"):
            assert (getattr(hookspecs, name).__doc__ or "").strip(), name
