"""The import rules between the core, the plugins and their sandboxes (issue #11).

1. Plugins, examples and the Home Assistant component import the core only through its
   public modules: ``wattbridge``, ``wattbridge.commands`` and ``wattbridge.testing``.
2. A source never imports a sink's code, nor a sink a source's: what both need lives in
   ``wattbridge_plugins.common``.
3. A sandbox never imports its own sink's code: it must be able to catch that code's bugs.

There are no exceptions: every breach fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_CORE = {"wattbridge", "wattbridge.commands", "wattbridge.testing"}
CHECKED = ("plugins", "examples", "homeassistant_component")


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute names, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from wattbridge import _config` imports a module, not a name.
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_")
            )
    return found


def module_name(path: Path) -> str:
    """The dotted name of a file under plugins/ ("" for files elsewhere)."""
    relative = path.relative_to(ROOT)
    if relative.parts[0] != "plugins":
        return ""
    parts = list(relative.with_suffix("").parts[1:])
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def plugin_side(module: str) -> tuple[str, str] | None:
    """("sinks" | "sources", plugin folder) for a module inside a built-in plugin."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[0] == "wattbridge_plugins" and parts[1] in ("sinks", "sources"):
        return parts[1], parts[2]
    return None


def breaches(path: Path) -> set[tuple[str, str]]:
    """The (file, imported module) pairs in ``path`` that break a rule."""
    name = module_name(path)
    side = plugin_side(name)
    own_sandbox = name.rsplit(".sandbox", 1)[0] if ".sandbox" in name else None
    found = set()
    for imported in imported_modules(path):
        top = imported.split(".")[0]
        if top == "wattbridge" and imported not in PUBLIC_CORE:
            found.add(imported)
        other = plugin_side(imported)
        if side and other and other[0] != side[0]:
            found.add(imported)
        if (
            own_sandbox
            and imported.startswith(own_sandbox + ".")
            and ".sandbox" not in imported[len(own_sandbox) :]
        ):
            found.add(imported)
        if not name and other and imported != ".".join(("wattbridge_plugins", *other)):
            # The HA component and examples use plugins by config; the component may use
            # the homeassistant source's public face (its package), never its modules.
            found.add(imported)
    relative = str(path.relative_to(ROOT))
    return {(relative, imported) for imported in found}


def all_breaches() -> set[tuple[str, str]]:
    """Every breach in the checked folders."""
    found: set[tuple[str, str]] = set()
    for folder in CHECKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found |= breaches(path)
    return found


def test_no_breach_of_the_import_rules():
    found = sorted(all_breaches())
    assert not found, "imports that break the layering rules:\n" + "\n".join(map(str, found))


def test_the_rules_catch_each_kind_of_breach(tmp_path, monkeypatch):
    # The checker itself, on files that break each rule once.
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    sink = tmp_path / "plugins/wattbridge_plugins/sinks/demo"
    (sink / "sandbox").mkdir(parents=True)
    source = tmp_path / "plugins/wattbridge_plugins/sources/meter"
    source.mkdir(parents=True)
    (source / "source.py").write_text(
        "from wattbridge._outbox import Outbox\nfrom wattbridge_plugins.sinks.demo import sink\n"
    )
    (sink / "sandbox" / "server.py").write_text(
        "from wattbridge_plugins.sinks.demo.payload import encode\n"
        "from wattbridge_plugins.sinks.demo.sandbox.store import Store\n"
    )
    (sink / "sink.py").write_text("from wattbridge import Reading\nimport wattbridge.testing\n")
    assert breaches(source / "source.py") == {
        ("plugins/wattbridge_plugins/sources/meter/source.py", "wattbridge._outbox"),
        ("plugins/wattbridge_plugins/sources/meter/source.py", "wattbridge_plugins.sinks.demo"),
    }
    assert breaches(sink / "sandbox" / "server.py") == {
        (
            "plugins/wattbridge_plugins/sinks/demo/sandbox/server.py",
            "wattbridge_plugins.sinks.demo.payload",
        )
    }
    assert breaches(sink / "sink.py") == set()
