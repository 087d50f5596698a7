#!/usr/bin/env python3
"""Build what HACS installs: a repository tree with ``custom_components/wattbridge/`` at
its root, and the same component as a zip for a release asset.

HACS installs an integration only from a repository whose root holds
``custom_components/<domain>/`` (and hacs.json, a README and a license); wattbridge's
own repository keeps the component under homeassistant_component/, so it is published
from the tree built here (push it to the HACS repository, tag it, release it).

The component carries wattbridge itself in ``custom_components/wattbridge/_vendor/``:
the core and the plugins it loads (the sinks, and the homeassistant source's state
handling), not the Modbus, CSV or MQTT sources. So Home Assistant installs no
``wattbridge`` package from an index, only the third-party libraries the manifest
lists, each with the same bounds as pyproject.toml gives it (in the core's
dependencies or the `mqtt` extra; checked here) and none pinned against Home
Assistant's own constraints.

Usage: build-release.py [--out DIR]   (default: dist/ at the repository root)
Writes DIR/hacs/ (the tree) and DIR/wattbridge.zip (the component's files at its root),
and prints both paths. Both are reproducible: sorted names, fixed times.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "homeassistant_component"
COMPONENT = SOURCE / "custom_components" / "wattbridge"
DOMAIN = "wattbridge"
FIXED_TIME = (2024, 1, 1, 0, 0, 0)
SKIP_PARTS = {"__pycache__", "_vendor"}
SKIP_SUFFIXES = {".pyc", ".pyo"}

VENDORED = {
    # vendored package folder -> the repository folders copied into it (relative paths
    # inside the package; "." is every file at the package's top).
    "wattbridge": (REPO / "core" / "wattbridge", ["."]),
    "wattbridge_plugins": (
        REPO / "plugins" / "wattbridge_plugins",
        [".", "common", "sinks", "sources/__init__.py", "sources/homeassistant"],
    ),
}
COMPONENT_EXTRAS = ("mqtt",)
"""wattbridge's extras the component needs besides its core: paho-mqtt for the
energydata-mqtt sink. (The homeassistant source's websockets is not needed: inside HA
the states come from HA itself.)"""
NEVER_REQUIRED = {"wattbridge", "pymodbus", "pyserial"}
"""Not in the manifest: wattbridge is vendored; the Modbus source is not (HA core pins
its own pymodbus for its modbus integration)."""


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def check_manifest() -> dict[str, object]:
    """The component's manifest, after checking it against pyproject.toml: the same
    version, and requirements that are pyproject's dependencies with the same bounds
    and never wattbridge itself or what Home Assistant pins for its own integrations."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    manifest: dict[str, object] = json.loads(
        (COMPONENT / "manifest.json").read_text(encoding="utf-8")
    )
    declared = list(project["dependencies"])
    for extra in COMPONENT_EXTRAS:
        declared += project["optional-dependencies"][extra]
    dependencies = {_name(d): d.replace(" ", "") for d in declared}
    problems = []
    if manifest.get("version") != project["version"]:
        problems.append(f"manifest version {manifest.get('version')!r} != {project['version']!r}")
    requirements = manifest.get("requirements")
    if not isinstance(requirements, list):
        problems.append("manifest requirements is not a list")
        requirements = []
    for requirement in requirements:
        name = _name(requirement)
        if name in NEVER_REQUIRED:
            problems.append(f"manifest requires {requirement!r}, which the release must not")
        elif dependencies.get(name) != requirement:
            problems.append(
                f"manifest requires {requirement!r}, pyproject.toml "
                f"{dependencies.get(name, 'nothing')!r}"
            )
    if problems:
        sys.exit("build-release: " + "; ".join(problems))
    return manifest


def _files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not SKIP_PARTS & set(path.relative_to(folder).parts)
        and path.suffix not in SKIP_SUFFIXES
    )


def tree_files() -> dict[str, Path]:
    """Every file of the HACS tree: its path in the tree -> the file it copies."""
    files: dict[str, Path] = {
        "hacs.json": SOURCE / "hacs.json",
        "README.md": SOURCE / "README.md",
        "LICENSE": REPO / "LICENSE",
    }
    base = f"custom_components/{DOMAIN}"
    for path in _files(COMPONENT):
        files[f"{base}/{path.relative_to(COMPONENT).as_posix()}"] = path
    for package, (root, parts) in VENDORED.items():
        for part in parts:
            source = root / part
            if part == ".":
                chosen = sorted(p for p in root.iterdir() if p.is_file())
            elif source.is_file():
                chosen = [source]
            else:
                chosen = _files(source)
            for path in chosen:
                if path.suffix in SKIP_SUFFIXES:
                    continue
                inside = path.relative_to(root).as_posix()
                files[f"{base}/_vendor/{package}/{inside}"] = path
    return dict(sorted(files.items()))


def build(out_dir: Path) -> tuple[Path, Path]:
    """Write ``out_dir``/hacs/ and ``out_dir``/wattbridge.zip; return their paths."""
    check_manifest()
    files = tree_files()
    tree = out_dir / "hacs"
    if tree.exists():
        shutil.rmtree(tree)
    for name, path in files.items():
        target = tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    archive = out_dir / f"{DOMAIN}.zip"
    prefix = f"custom_components/{DOMAIN}/"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, path in files.items():
            if not name.startswith(prefix):
                continue
            info = zipfile.ZipInfo(name[len(prefix) :], FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zipped.writestr(info, path.read_bytes())
    return tree, archive


def main() -> None:
    """Parse the arguments and build."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder")
    tree, archive = build(parser.parse_args().out)
    print(tree)
    print(archive)


if __name__ == "__main__":
    main()
