"""Every built-in plugin folder speaks the same file vocabulary (issue #11), and its
README documents every key its config classes accept.

The vocabulary: hook implementations in ``__init__.py``; the config classes in
``config.py``; the source or sink class in ``source.py`` or ``sink.py``; README.md with
a key table; sample.toml. A reader who knows one plugin finds their way in the next.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import types
import typing
from pathlib import Path

import attrs
import pytest

from wattbridge._plugins import DEFAULT_PLUGINS, PluginType, load_plugins

REGISTRY = load_plugins()
BUILT_IN: list[tuple[str, PluginType]] = [
    (kind, plugin_type)
    for kind in ("sources", "sinks")
    for plugin_type in getattr(REGISTRY, kind).values()
    if plugin_type.plugin in DEFAULT_PLUGINS
]
IDS = [plugin_type.name for _, plugin_type in BUILT_IN]


def folder_of(plugin_type: PluginType) -> Path:
    module = importlib.import_module(plugin_type.plugin)
    assert module.__file__ is not None
    return Path(module.__file__).parent


def nested_classes(cls: type, seen: set[type] | None = None) -> list[type]:
    """``cls`` and every attrs class its fields hold (in lists, dicts, optionals)."""
    seen = seen if seen is not None else set()
    if cls in seen or not attrs.has(cls):
        return []
    seen.add(cls)
    found = [cls]
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        if not field.init:
            continue  # computed by the class, not a key
        for inner in _types_in(hints.get(field.name)):
            found += nested_classes(inner, seen)
    return found


def _types_in(annotation: object) -> list[type]:
    if isinstance(annotation, type):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _types_in(typing.get_args(annotation)[0])
    if origin is not None or isinstance(annotation, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _types_in(arg)]
    return []


def documented_keys(readme: Path) -> set[str]:
    """The backticked names in the first cell of each table row of ``readme``."""
    keys: set[str] = set()
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            first = line.split("|")[1]
            for token in re.findall(r"`([^`]+)`", first):
                keys.add(token)
                keys.update(re.split(r"[.\[\]= ]+", token))
    return keys


@pytest.mark.parametrize(("kind", "plugin_type"), BUILT_IN, ids=IDS)
def test_the_plugin_folder_has_the_usual_files(kind: str, plugin_type: PluginType) -> None:
    folder = folder_of(plugin_type)
    missing = [
        name
        for name in ("__init__.py", "config.py", "README.md", "sample.toml")
        if not (folder / name).is_file()
    ]
    assert not missing, f"{folder}: missing {missing}"
    role = "source.py" if kind == "sources" else "sink.py"
    # A part that needs an extra is registered as a stand-in naming where it lives
    # (common/extras.py): found without importing it, so without its dependency.
    target = getattr(plugin_type.factory, "lazy_target", None)
    if target is not None:
        spec = importlib.util.find_spec(target.split(":")[0])
        assert spec is not None and spec.origin is not None, target
        factory_file = Path(spec.origin)
    else:
        factory_file = Path(inspect.getfile(plugin_type.factory))
    assert factory_file == folder / role, f"{plugin_type.factory} lives in {factory_file}"
    config_file = Path(inspect.getfile(plugin_type.config_class))
    assert config_file == folder / "config.py", f"{plugin_type.config_class} in {config_file}"


@pytest.mark.parametrize(("kind", "plugin_type"), BUILT_IN, ids=IDS)
def test_hook_implementations_live_in_the_package(kind: str, plugin_type: PluginType) -> None:
    package = importlib.import_module(plugin_type.plugin)
    hooks = [
        (name, value)
        for name, value in vars(package).items()
        if name.startswith("wattbridge_") and callable(value)
    ]
    assert hooks, f"{plugin_type.plugin} has no hook implementations"
    for name, hook in hooks:
        assert hook.__module__ == package.__name__, f"{name} is defined in {hook.__module__}"


@pytest.mark.parametrize(("kind", "plugin_type"), BUILT_IN, ids=IDS)
def test_the_readme_documents_every_key(kind: str, plugin_type: PluginType) -> None:
    readme = folder_of(plugin_type) / "README.md"
    documented = documented_keys(readme)
    missing = sorted(
        f"{cls.__name__}.{field.name}"
        for cls in nested_classes(plugin_type.config_class)
        for field in attrs.fields(cls)
        if field.init and field.name not in documented
    )
    assert not missing, f"{readme}: no row in a key table for {missing}"


def test_the_key_table_reader_finds_what_a_row_names(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "text `not_a_key`\n| key | meaning |\n|---|---|\n| `a` | x |\n| `meters.b`, `c` | y |\n"
    )
    assert {"a", "b", "c"} <= documented_keys(readme)
    assert "not_a_key" not in documented_keys(readme)
