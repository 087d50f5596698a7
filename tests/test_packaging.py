"""The package as a user installs it: the wheel is built from this tree and installed in
a fresh virtual environment (what ``pipx install`` does), and ``wattbridge`` works
there: ``plugins``, ``demo`` against the sandbox it starts, ``sandbox``. The wheel holds
the licence, and the READMEs it ships link only to URLs or to files it holds."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the tree (a build writes into its source)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*-state", "sandbox-state")
    for name in ("core", "plugins"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = (work / "dist").glob("wattbridge-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed, as pipx makes one; returns
    its ``wattbridge`` command."""
    env = tmp_path_factory.mktemp("venv") / "env"
    venv.create(env, with_pip=True)
    subprocess.run(
        [str(env / "bin" / "pip"), "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    return env / "bin" / "wattbridge"


def test_the_wheel_holds_the_licence_and_links_only_to_what_it_holds(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert any(
            n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")
            for n in names
        ), sorted(n for n in names if "dist-info" in n)
        metadata = next(
            archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA")
        )
        readmes = {n: archive.read(n).decode() for n in names if n.endswith(".md")}
    assert "License: MIT" in metadata or "License-Expression: MIT" in metadata
    assert readmes, "the plugins' READMEs are in the wheel"
    broken = []
    for name, text in {**readmes, "METADATA (the project README)": metadata}.items():
        for target in LINK.findall(text):
            if re.match(r"(https?:|mailto:|#)", target):
                continue
            path = Path(name).parent / target.split("#")[0]
            resolved = Path(*[p for p in path.parts if p != "."])
            parts: list[str] = []
            for part in resolved.parts:
                if part == "..":
                    if parts:
                        parts.pop()
                else:
                    parts.append(part)
            joined = "/".join(parts)
            if joined not in names and not any(n.startswith(joined + "/") for n in names):
                broken.append(f"{name}: {target}")
    assert not broken, broken


def test_the_installed_command_runs_plugins_demo_and_sandbox(
    installed: Path, tmp_path: Path
) -> None:
    plugins = subprocess.run(
        [str(installed), "plugins"], capture_output=True, text=True, timeout=120
    )
    assert plugins.returncode == 0, plugins.stderr
    for name in ("csv-folder", "energydata-batch", "energinet", "modbus", "jsonl"):
        assert name in plugins.stdout
    demo = subprocess.run(
        [str(installed), "demo"], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    sandbox = subprocess.Popen(
        [str(installed), "sandbox", "energinet", "--state-dir", str(tmp_path / "sb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        first = sandbox.stdout.readline()
        assert first.startswith("energinet: http://127.0.0.1:"), first
    finally:
        sandbox.send_signal(signal.SIGINT)
        assert sandbox.wait(timeout=60) == 0


def test_a_slim_install_names_the_extra_a_plugin_needs(installed: Path, tmp_path: Path) -> None:
    config = tmp_path / "wattbridge.toml"
    config.write_text(
        '[sources.meter]\nplugin = "modbus"\nhost = "127.0.0.1"\nprofile = "eastron-sdm630"\n'
        '[sinks.out]\nplugin = "jsonl"\n[[routes]]\nfrom = "meter"\nto = "out"\n',
        encoding="utf-8",
    )
    python = installed.with_name("python")
    has_pymodbus = subprocess.run([str(python), "-c", "import pymodbus"], capture_output=True)
    assert has_pymodbus.returncode != 0, "pymodbus is a core dependency again"
    run = subprocess.run(
        [str(installed), "run", "-c", str(config)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1
    assert "pip install 'wattbridge[modbus]'" in run.stderr, run.stderr
