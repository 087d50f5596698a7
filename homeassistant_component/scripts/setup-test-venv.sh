#!/usr/bin/env bash
# Create the virtual environment in which the Home Assistant custom component's tests
# run, and from which the `homeassistant` source's tests start a real Home Assistant.
#
# Two Home Assistants are tested, the oldest the manifest and hacs.json declare and the
# newest the registry serves:
#   2024.3.3  Python 3.11 (the newest HA that runs on it), pytest-homeassistant-custom-
#             component 0.13.109; pins paho-mqtt 1.6.1.
#   2026.2.3  Python 3.13.2 or later (python313.sh finds, installs or builds one),
#             pytest-homeassistant-custom-component 0.13.316; paho-mqtt 2.
#
# Why a venv of its own: HA and its test harness pin dozens of exact versions, which
# must not leak into wattbridge's main env.
#
# Usage: homeassistant_component/scripts/setup-test-venv.sh VENV [HA_VERSION]
#        (HA_VERSION: 2024.3.3, the default, or 2026.2.3)
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 VENV [2024.3.3|2026.2.3]" >&2
    exit 2
fi
venv=$1
ha=${2:-2024.3.3}
scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$scripts/../.." && pwd)

extra=()
case "$ha" in
    2024.3.3)
        python=${PYTHON:-python3.11}
        harness=0.13.109
        paho=1.6.
        # josepy<2: hass-nabucasa (imported by HA's http integration on every request)
        # uses acme 2.8, which needs josepy's ComparableX509, removed in josepy 2.0; pip
        # would otherwise pick josepy 2.x and every HTTP request to HA would fail with a 500.
        extra=("josepy<2")
        ;;
    2026.2.3)
        python=${PYTHON:-$("$scripts/python313.sh")}
        harness=0.13.316
        paho=2.
        ;;
    *)
        echo "$0: HA $ha is not one of the tested versions (2024.3.3, 2026.2.3)" >&2
        exit 2
        ;;
esac

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
# Constraints, or pip's resolver backtracks for many minutes through old sdists of HA's
# Bluetooth libraries: a lock of a venv that worked where there is one, else the pins
# HA installs its integrations against (package_constraints.txt in HA's wheel).
lock="$scripts/ha-$ha.constraints.txt"
if [[ ! -f "$lock" ]]; then
    wheels=$(mktemp -d)
    trap 'rm -rf "$wheels"' EXIT
    "$venv/bin/python" -m pip download -q --no-deps -d "$wheels" "homeassistant==$ha"
    lock="$wheels/package_constraints.txt"
    "$venv/bin/python" - "$wheels" "$lock" <<'PY'
import sys
import zipfile
from pathlib import Path

wheel = next(Path(sys.argv[1]).glob("homeassistant-*.whl"))
Path(sys.argv[2]).write_bytes(zipfile.ZipFile(wheel).read("homeassistant/package_constraints.txt"))
PY
fi
constraints=(-c "$lock")
"$venv/bin/python" -m pip install -q "${constraints[@]}" \
    "homeassistant==$ha" \
    "pytest-homeassistant-custom-component==$harness" \
    "${extra[@]}"
# The recorder and history integrations (the source's tests start HA with them, and
# the component reads the recorder) need their manifests' requirements, installed the
# way HA installs them: against its package_constraints.txt.
ha_dir=$("$venv/bin/python" -c "import homeassistant, pathlib; print(pathlib.Path(homeassistant.__file__).parent)")
mapfile -t recorder_requirements < <("$venv/bin/python" -c \
    "import json, sys; print('\n'.join(json.load(open(sys.argv[1]))['requirements']))" \
    "$ha_dir/components/recorder/manifest.json")
ha_constraints="$ha_dir/package_constraints.txt"
"$venv/bin/python" -m pip install -q -c "$ha_constraints" "${constraints[@]}" "${recorder_requirements[@]}"
# wattbridge itself, editable, without touching the pins HA made above; its own
# dependencies then resolve against them (paho-mqtt stays HA's). The extras are the
# plugin families that were core dependencies before the core was slimmed.
"$venv/bin/python" -m pip install -q -e "$repo[modbus,homeassistant,mqtt]"
# tests/conftest.py (shared by every test folder) imports hypothesis. Not wattbridge's
# whole [test] extra: HA's harness pins its own pytest and pytest-asyncio.
# mypy: run-tests.sh type-checks the component against HA's own type hints.
"$venv/bin/python" -m pip install -q "hypothesis>=6.100" "mypy>=1.10"

# Fail loudly if the HA pins broke wattbridge or the other way round.
"$venv/bin/python" - "$ha" "$paho" <<'PY'
import importlib.metadata as md
import sys

import wattbridge  # noqa: F401

ha, paho_prefix = sys.argv[1:]
installed = md.version("homeassistant")
assert installed == ha, f"homeassistant {installed} installed, {ha} wanted"
paho = md.version("paho-mqtt")
assert paho.startswith(paho_prefix), f"paho-mqtt {paho}: HA {ha} pins {paho_prefix}x"
print(f"HA venv ready: Python {sys.version.split()[0]}, homeassistant {installed}, paho-mqtt {paho}")
PY
