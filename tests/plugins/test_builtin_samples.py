"""Every plugin folder's sample.toml and every example config is a valid config."""

import tomllib
from pathlib import Path
from typing import Any

import pytest

from wattbridge._config import load_config
from wattbridge._plugins import DEFAULT_PLUGINS

ROOT = Path(__file__).resolve().parents[2]
# A built-in plugin's folder is its module's: the ones the core loads by default.
PLUGIN_FOLDERS = [ROOT / "plugins" / Path(*name.split(".")) for name in DEFAULT_PLUGINS]
SAMPLES = [folder / "sample.toml" for folder in PLUGIN_FOLDERS]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.toml"))


def env_names(value: Any) -> set[str]:
    """Every NAME in an `{env = "NAME"}` anywhere in parsed TOML."""
    if isinstance(value, dict):
        found = {value["env"]} if set(value) == {"env"} else set()
        return found.union(*(env_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(env_names(v) for v in value))
    return set()


def ca_files(value: Any) -> set[str]:
    """Every ``ca_file`` anywhere in parsed TOML."""
    if isinstance(value, dict):
        found = {value["ca_file"]} if isinstance(value.get("ca_file"), str) else set()
        return found.union(*(ca_files(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(ca_files(v) for v in value))
    return set()


def test_every_plugin_folder_has_a_readme_and_a_sample():
    assert PLUGIN_FOLDERS
    for folder in PLUGIN_FOLDERS:
        assert (folder / "__init__.py").exists(), folder
        assert (folder / "README.md").exists(), folder
        assert (folder / "sample.toml").exists(), folder


@pytest.mark.parametrize("path", SAMPLES + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sample_config_is_valid(path, wattbridge_registry, monkeypatch, request):
    # Samples name their secrets as {env = "..."}: give every such variable a value.
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for name in env_names(data):
        monkeypatch.setenv(name, "test-value")
    # A sample for the MQTT sandbox names the CA it writes when it starts (a *-state
    # folder, ignored by git): make it exist, as it does once the sandbox runs.
    for name in ca_files(data):
        ca = path.parent / name
        if not ca.exists():
            assert "sandbox-state" in ca.parts, f"{path}: ca_file {name} does not exist"
            ca.parent.mkdir(parents=True, exist_ok=True)
            ca.write_text("made by the test: the sandbox writes its CA here\n")
            request.addfinalizer(lambda ca=ca: ca.unlink())
    monkeypatch.chdir(path.parent)
    config = load_config(path, wattbridge_registry)
    assert config.sources or config.sinks
