"""Every plugin folder's sample.toml and every example config is a valid config."""

import tomllib
from pathlib import Path
from typing import Any

import pytest

from wattbridge._cli import main
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


def prepare(path: Path, monkeypatch: Any, request: Any) -> dict[str, Any]:
    """Set what a sample needs from outside (its secrets' variables, the sandbox's CA)
    and return its parsed TOML."""
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
    return data


@pytest.mark.parametrize("path", SAMPLES + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sample_config_is_valid(path, wattbridge_registry, monkeypatch, request):
    prepare(path, monkeypatch, request)
    config = load_config(path, wattbridge_registry)
    assert config.sources or config.sinks


def remove_new_empty_folders(root: Path, before: set[Path]) -> None:
    """Remove folders under ``root`` made since ``before`` was listed, if empty."""
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if folder not in before and not any(folder.iterdir()):
            folder.rmdir()


# Sources of these plugins need nothing outside this machine: their dry run must succeed.
LOCAL_SOURCES = {"replay", "csv-folder"}


@pytest.mark.slow
@pytest.mark.parametrize("path", SAMPLES + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_wattbridge_test_dry_runs_the_sample(
    path, wattbridge_registry, monkeypatch, request, capsys
):
    data = prepare(path, monkeypatch, request)
    config = load_config(path, wattbridge_registry)
    existed = config.state_dir.exists()
    folders = {p for p in path.parent.rglob("*") if p.is_dir()}
    # A watch-folder source makes its inbox's folders when it starts: not in the repo.
    request.addfinalizer(lambda: remove_new_empty_folders(path.parent, folders))
    code = main(["test", "-c", str(path), "--seconds", "2", "--show", "3"])
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1].startswith("nothing was sent and no outbox was written")
    for name, spec in config.sinks.items():
        assert f"sink {name} ({spec.type.name})" in out, out
    assert config.state_dir.exists() == existed, "a dry run made the state folder"
    plugins = {table["plugin"] for table in data.get("sources", {}).values()}
    if plugins <= LOCAL_SOURCES:
        assert code == 0, out
    else:
        # A meter or broker on the user's network, absent here: said, and exit 1.
        assert code in (0, 1), out
        assert code == 0 or "warning:" in out or "failed" in out, out
