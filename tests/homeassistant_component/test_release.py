"""What HACS installs, built by homeassistant_component/scripts/build-release.py, checked
against the rules HACS and hassfest publish, and run.

The rules are HACS's validators (hacs/integration, custom_components/hacs/validate/:
the repository structure, hacs.json's schema, the integration manifest's schema, an
information file, a license, brand assets at custom_components/<domain>/brand/icon.png)
and hassfest's checks that apply to a custom integration (script/hassfest in HA core:
the manifest's key order, version, integration type, IoT class and requirement format;
every ``homeassistant.components.X`` import declared in dependencies or
after_dependencies), reimplemented here from their published text. Each test names the
rule it checks.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest
from awesomeversion import AwesomeVersion
from packaging.requirements import Requirement
from wb_helpers import COMPONENT_ROOT, REPO

SCRIPT = REPO / "homeassistant_component" / "scripts" / "build-release.py"
OLDEST_TESTED_HA = "2024.3.3"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The HACS tree and the zip, built once for the module."""
    out = tmp_path_factory.mktemp("release")
    built = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    tree, archive = (Path(line) for line in built.stdout.split())
    return tree, archive


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# -- HACS ------------------------------------------------------------------------

HACS_JSON_KEYS = {
    "content_in_root": bool,
    "country": (str, list),
    "filename": str,
    "hacs": str,
    "hide_default_branch": bool,
    "homeassistant": str,
    "persistent_directory": str,
    "render_readme": bool,
    "zip_release": bool,
    "name": str,
}


def test_hacs_finds_one_integration_under_custom_components(release: tuple[Path, Path]) -> None:
    """repositories/integration.py: without content_in_root the integration is the
    first directory in custom_components/; its manifest's domain names it."""
    tree, _ = release
    folders = [p.name for p in (tree / "custom_components").iterdir()]
    assert folders == ["wattbridge"]
    assert load(tree / "custom_components" / "wattbridge" / "manifest.json")["domain"] == (
        "wattbridge"
    )


def test_hacs_json_follows_hacs_schema(release: tuple[Path, Path]) -> None:
    """validate/hacsjson.py: HACS_MANIFEST_JSON_SCHEMA (name required, no other keys
    than the listed ones), zip_release needs filename."""
    tree, _ = release
    hacs = load(tree / "hacs.json")
    assert isinstance(hacs.get("name"), str) and hacs["name"]
    for key, value in hacs.items():
        assert key in HACS_JSON_KEYS, f"hacs.json: HACS refuses the key {key!r}"
        assert isinstance(value, HACS_JSON_KEYS[key]), key
    assert not hacs.get("zip_release") or hacs.get("filename")
    assert not hacs.get("content_in_root"), "the tree has custom_components/ at its root"
    # The oldest HA it declares is one the CI tests.
    assert AwesomeVersion(hacs["homeassistant"]) <= AwesomeVersion(OLDEST_TESTED_HA)


def test_manifest_follows_hacs_schema(release: tuple[Path, Path]) -> None:
    """validate/integration_manifest.py: INTEGRATION_MANIFEST_JSON_SCHEMA."""
    tree, _ = release
    manifest = load(tree / "custom_components" / "wattbridge" / "manifest.json")
    assert isinstance(manifest["codeowners"], list)
    for key in ("documentation", "issue_tracker"):
        assert re.fullmatch(r"https://[^\s/]+/\S*", manifest[key]), key
    assert isinstance(manifest["domain"], str) and isinstance(manifest["name"], str)
    assert AwesomeVersion(manifest["version"]).valid


def test_information_license_and_brand(release: tuple[Path, Path]) -> None:
    """validate/information.py (a README), validate/license.py (an OSI license GitHub
    identifies: MIT), validate/brands.py (custom_components/<domain>/brand/icon.png),
    and HA's brand images rules: a square PNG icon of 256x256."""
    tree, _ = release
    assert (tree / "README.md").read_text(encoding="utf-8").startswith("# wattbridge")
    assert (tree / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    icon = (tree / "custom_components" / "wattbridge" / "brand" / "icon.png").read_bytes()
    assert icon[:8] == b"\x89PNG\r\n\x1a\n" and icon[12:16] == b"IHDR"
    assert struct.unpack(">II", icon[16:24]) == (256, 256)


# -- hassfest ------------------------------------------------------------------------

INTEGRATION_TYPES = {
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
    "virtual",
}
IOT_CLASSES = {
    "assumed_state",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
    "calculated",
}
REQUIREMENT = re.compile(
    r"^(?:[-_.\w]+)(?:\[[\w,]+\])?(?:[<>=!~]=?[^\s;]*)*(?:,[<>=!~]=?[^\s,;]*)*$"
)
ALWAYS_ALLOWED = {
    "diagnostics",
    "sensor",
    "homeassistant",
    "websocket_api",
    "persistent_notification",
}


def test_manifest_follows_hassfest(release: tuple[Path, Path]) -> None:
    """script/hassfest/manifest.py: domain and name first, then the keys sorted; the
    domain is the folder's name; a custom integration has a valid version; known
    integration type and IoT class; config_flow means a config_flow.py.
    script/hassfest/requirements.py: requirements without spaces, in package form."""
    tree, _ = release
    folder = tree / "custom_components" / "wattbridge"
    manifest = load(folder / "manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"] and keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == folder.name
    assert AwesomeVersion(manifest["version"]).strategy != "unknown"
    assert manifest["integration_type"] in INTEGRATION_TYPES
    assert manifest["iot_class"] in IOT_CLASSES
    assert manifest["config_flow"] is True and (folder / "config_flow.py").is_file()
    for requirement in manifest["requirements"]:
        assert " " not in requirement and REQUIREMENT.match(requirement), requirement
    for domain in manifest.get("dependencies", []) + manifest.get("after_dependencies", []):
        assert importlib.util.find_spec(f"homeassistant.components.{domain}"), domain


def test_every_integration_it_imports_is_declared(release: tuple[Path, Path]) -> None:
    """script/hassfest/dependencies.py: an import of homeassistant.components.X (outside
    TYPE_CHECKING) needs X in dependencies or after_dependencies, unless X is a platform
    or an always-allowed internal integration, or a file of the integration."""
    tree, _ = release
    folder = tree / "custom_components" / "wattbridge"
    manifest = load(folder / "manifest.json")
    declared = set(manifest.get("dependencies", [])) | set(manifest.get("after_dependencies", []))
    referenced: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("homeassistant.components."):
                    referenced.add(node.module.split(".")[2])
                elif node.module == "homeassistant.components":
                    referenced.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                referenced.update(
                    alias.name.split(".")[2]
                    for alias in node.names
                    if alias.name.startswith("homeassistant.components.")
                )
    own_files = {p.stem for p in folder.glob("*.py")}
    undeclared = referenced - declared - ALWAYS_ALLOWED - own_files
    assert "recorder" in referenced  # the check sees the imports it is about
    assert not undeclared, f"not in dependencies or after_dependencies: {undeclared}"


# -- installing beside Home Assistant ------------------------------------------------


def _constraints() -> dict[str, str]:
    """HA's package_constraints.txt: the exact pins it installs integrations against."""
    import homeassistant

    text = (Path(homeassistant.__file__).parent / "package_constraints.txt").read_text()
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line and ";" not in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def test_requirements_fit_home_assistants_pins(release: tuple[Path, Path]) -> None:
    """HA installs a manifest's requirements with its package_constraints.txt: each
    requirement must accept HA's pin (where HA pins it) and the version this HA has."""
    tree, _ = release
    manifest = load(tree / "custom_components" / "wattbridge" / "manifest.json")
    pins = _constraints()
    assert "attrs" in pins or "requests" in pins  # the constraints file was read
    names = set()
    for text in manifest["requirements"]:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        names.add(name)
        assert name not in {"wattbridge", "pymodbus"}, text
        if name in pins:
            assert requirement.specifier.contains(pins[name], prereleases=True), (text, pins[name])
        installed = md.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (text, installed)
    assert {"pluggy", "apscheduler", "paho-mqtt"} <= names


def test_the_vendored_wattbridge_runs_without_an_installed_one(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    """The component imports the wattbridge in its _vendor/ folder, which has every
    module the sinks need: a reading goes through its runtime into a jsonl file."""
    tree, _ = release
    out = tmp_path / "out.jsonl"
    program = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tree)!r})
        from datetime import UTC, datetime
        from pathlib import Path

        from custom_components.wattbridge import vendored
        from custom_components.wattbridge.bridge import build_config, load_registry
        import wattbridge, wattbridge_plugins
        from wattbridge import Reading
        from wattbridge.commands import Runtime

        assert vendored.VENDORED
        for package in (wattbridge, wattbridge_plugins):
            assert package.__file__.startswith({str(tree)!r}), package.__file__
        registry = load_registry()
        sinks = {{"jsonl", "energydata-mqtt", "energydata-batch", "energinet"}}
        assert sinks <= set(registry.sinks)
        assert "modbus" not in registry.sources
        folder = Path({str(tmp_path / "state")!r})
        config = build_config(registry, folder, "jsonl", {{"path": {str(out)!r}}})
        runtime = Runtime(config, registry)
        runtime.start()
        runtime.emit("homeassistant", [Reading("sensor.x", datetime.now(UTC), 1.5, "kWh")])
        runtime.flush_all()
        runtime.stop()
        print("ran", sys.modules["pymodbus"] if "pymodbus" in sys.modules else "without pymodbus")
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ran without pymodbus" in run.stdout
    assert [json.loads(line)["value"] for line in out.read_text().splitlines()] == [1.5]


# -- the zip -------------------------------------------------------------------------


def test_the_component_under_test_is_the_one_asked_for(component_root: Path) -> None:
    assert component_root == (COMPONENT_ROOT / "custom_components" / "wattbridge").resolve()


def test_the_release_zip_holds_a_component_that_loads(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    _, archive = release
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        assert "manifest.json" in names and "__init__.py" in names  # files at the root
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert "translations/da.json" in names and "brand/icon.png" in names
        assert "_vendor/wattbridge/__init__.py" in names
        root = tmp_path / "config"
        zipped.extractall(root / "custom_components" / "wattbridge")

    env = {**os.environ, "WATTBRIDGE_COMPONENT_ROOT": str(root)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=--import-mode=importlib",
            "-o",
            "asyncio_mode=auto",
            str(REPO / "tests" / "homeassistant_component" / "test_setup.py"),
            str(Path(__file__)) + "::test_the_component_under_test_is_the_one_asked_for",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout


def test_a_second_build_is_identical(tmp_path: Path) -> None:
    def build(folder: str) -> bytes:
        out = subprocess.run(
            [sys.executable, str(SCRIPT), "--out", str(tmp_path / folder)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return Path(out[1]).read_bytes()

    assert build("a") == build("b")
