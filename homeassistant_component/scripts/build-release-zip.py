#!/usr/bin/env python3
"""Build the release asset HACS installs: a zip of custom_components/wattbridge with its
files at the zip's root (HACS extracts it into <config>/custom_components/wattbridge/).

The component lives under homeassistant_component/, not at the repository's root, so
HACS cannot install it from the repository tree; hacs.json at the root says
``zip_release`` and names this file. Attach the zip to each GitHub release.

Usage: build-release-zip.py [--out DIR]   (default: dist/ at the repository root)

The zip is reproducible (sorted names, fixed times), and the build refuses a manifest
whose version or ``wattbridge==`` requirement differs from pyproject.toml's version.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "homeassistant_component" / "custom_components" / "wattbridge"
FIXED_TIME = (2024, 1, 1, 0, 0, 0)
SKIP_PARTS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


def check_versions() -> str:
    """The project's version, after checking the manifest agrees with it."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    manifest = json.loads((COMPONENT / "manifest.json").read_text(encoding="utf-8"))
    problems = []
    if manifest.get("version") != version:
        problems.append(f"manifest version {manifest.get('version')!r} != {version!r}")
    if f"wattbridge=={version}" not in manifest.get("requirements", []):
        problems.append(f"manifest requirements lack 'wattbridge=={version}'")
    if problems:
        sys.exit("build-release-zip: " + "; ".join(problems))
    return version


def files() -> list[Path]:
    """The component's files, sorted, without caches."""
    return sorted(
        path
        for path in COMPONENT.rglob("*")
        if path.is_file()
        and not SKIP_PARTS & set(path.relative_to(COMPONENT).parts)
        and path.suffix not in SKIP_SUFFIXES
    )


def build(out_dir: Path) -> Path:
    """Write the zip into ``out_dir``; return its path."""
    check_versions()
    hacs = json.loads((REPO / "hacs.json").read_text(encoding="utf-8"))
    target = out_dir / hacs["filename"]
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files():
            info = zipfile.ZipInfo(path.relative_to(COMPONENT).as_posix(), FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return target


def main() -> None:
    """Parse the arguments and build."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="folder for the zip")
    target = build(parser.parse_args().out)
    print(target)


if __name__ == "__main__":
    main()
