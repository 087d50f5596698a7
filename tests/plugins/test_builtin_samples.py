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


def test_every_plugin_folder_has_a_readme_and_a_sample():
    assert PLUGIN_FOLDERS
    for folder in PLUGIN_FOLDERS:
        assert (folder / "__init__.py").exists(), folder
        assert (folder / "README.md").exists(), folder
        assert (folder / "sample.toml").exists(), folder


@pytest.mark.parametrize("path", SAMPLES + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sample_config_is_valid(path, wattbridge_registry, monkeypatch):
    # Samples name their secrets as {env = "..."}: give every such variable a value.
    for name in env_names(tomllib.loads(path.read_text(encoding="utf-8"))):
        monkeypatch.setenv(name, "test-value")
    monkeypatch.chdir(path.parent)
    config = load_config(path, wattbridge_registry)
    assert config.sources or config.sinks
