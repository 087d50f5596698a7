"""The release zip that HACS installs holds a component that loads: it is built by the
script, unzipped into a fresh custom_components/, and the setup tests run against it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from wb_helpers import COMPONENT_ROOT, REPO

SCRIPT = REPO / "homeassistant_component" / "scripts" / "build-release-zip.py"


def test_the_component_under_test_is_the_one_asked_for(component_root: Path) -> None:
    assert component_root == (COMPONENT_ROOT / "custom_components" / "wattbridge").resolve()


def test_the_release_zip_holds_a_component_that_loads(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        check=True,
    )
    archive = Path(built.stdout.strip())
    assert archive.name == "wattbridge.zip"
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        assert "manifest.json" in names and "__init__.py" in names  # HACS: files at root
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert "translations/da.json" in names and "services.yaml" in names
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
        timeout=240,
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
        ).stdout.strip()
        return Path(out).read_bytes()

    assert build("a") == build("b")
