"""quality_scale.yaml and docs/homeassistant.md cover every bronze and silver rule of
HA's Integration Quality Scale, as HA core's script/hassfest/quality_scale.py lists
them (ALL_RULES, tiers BRONZE and SILVER), and agree with each other."""

from __future__ import annotations

import re

import yaml
from wb_helpers import COMPONENT_ROOT, REPO

BRONZE = [
    "action-setup",
    "appropriate-polling",
    "brands",
    "common-modules",
    "config-flow",
    "config-flow-test-coverage",
    "dependency-transparency",
    "docs-actions",
    "docs-conditions",
    "docs-high-level-description",
    "docs-installation-instructions",
    "docs-removal-instructions",
    "docs-triggers",
    "entity-event-setup",
    "entity-unique-id",
    "has-entity-name",
    "runtime-data",
    "test-before-configure",
    "test-before-setup",
    "unique-config-entry",
]
SILVER = [
    "action-exceptions",
    "config-entry-unloading",
    "docs-configuration-parameters",
    "docs-installation-parameters",
    "entity-unavailable",
    "integration-owner",
    "log-when-unavailable",
    "parallel-updates",
    "reauthentication-flow",
    "test-coverage",
]


def rules() -> dict[str, object]:
    path = COMPONENT_ROOT / "custom_components" / "wattbridge" / "quality_scale.yaml"
    loaded: dict[str, object] = yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]
    return loaded


def test_every_bronze_and_silver_rule_is_done_or_exempt_with_a_reason() -> None:
    stated = rules()
    for rule in BRONZE + SILVER:
        status = stated.get(rule)
        if isinstance(status, dict):
            assert status["status"] == "exempt" and status["comment"], rule
        else:
            assert status == "done", rule


def test_the_docs_list_each_rule_the_yaml_states() -> None:
    docs = (REPO / "docs" / "homeassistant.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Quality scale") : docs.index("## For plugin authors")]
    listed = set(re.findall(r"`([a-z]+(?:-[a-z]+)+|brands|devices|diagnostics)`", section))
    assert set(rules()) <= listed
    assert set(BRONZE + SILVER) <= listed
