"""The files HACS and hassfest read: manifest key order, translations in step with
strings.json, services documented in both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from wb_helpers import COMPONENT_ROOT

COMPONENT = COMPONENT_ROOT / "custom_components" / "wattbridge"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def keys(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix}
    return {k for key, value in tree.items() for k in keys(value, f"{prefix}/{key}")}


def test_manifest_keys_are_in_hassfest_order() -> None:
    manifest = load(COMPONENT / "manifest.json")
    names = list(manifest)
    assert names[:2] == ["domain", "name"]
    assert names[2:] == sorted(names[2:])
    assert manifest["domain"] == "wattbridge" and manifest["config_flow"] is True
    assert "version" in manifest  # custom integrations must have one


def test_translations_have_every_string_of_strings_json() -> None:
    strings = keys(load(COMPONENT / "strings.json"))
    for language in ("en", "da"):
        assert keys(load(COMPONENT / "translations" / f"{language}.json")) == strings, language
    assert load(COMPONENT / "translations" / "en.json") == load(COMPONENT / "strings.json")


def test_every_service_is_described_and_translated() -> None:
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    translated = load(COMPONENT / "strings.json")["services"]
    assert set(services) == set(translated) == {"flush", "replay_dead_letters", "backfill"}
    for name, spec in services.items():
        assert set(spec["fields"]) == set(translated[name]["fields"])
