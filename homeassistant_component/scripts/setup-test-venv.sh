#!/usr/bin/env bash
# Create the Python 3.11 virtual environment in which the Home Assistant custom
# component's tests run, and from which the `homeassistant` source's tests start a
# real Home Assistant.
#
# Why a venv of its own: homeassistant 2024.3.3 (the newest release that runs on
# Python 3.11) and pytest-homeassistant-custom-component 0.13.109 pin paho-mqtt 1.6.1
# and dozens of other exact versions, which must not leak into wattbridge's main env.
#
# Usage: homeassistant_component/scripts/setup-test-venv.sh VENV
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 VENV" >&2
    exit 2
fi
venv=$1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-python3.11}

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --upgrade pip
"$venv/bin/python" -m pip install \
    "homeassistant==2024.3.3" \
    "pytest-homeassistant-custom-component==0.13.109" \
    "josepy<2"
# josepy<2: hass-nabucasa (imported by HA's http integration on every request) uses
# acme 2.8, which needs josepy's ComparableX509, removed in josepy 2.0; pip would
# otherwise pick josepy 2.x and every HTTP request to HA would fail with a 500.
# wattbridge itself, editable, without touching the pins HA made above; its own
# dependencies then resolve against them (paho-mqtt stays 1.6.1). The extras are the
# plugin families that were core dependencies before the core was slimmed.
"$venv/bin/python" -m pip install -e "$repo[modbus,homeassistant,mqtt]"
# tests/conftest.py (shared by every test folder) imports hypothesis. Not wattbridge's
# whole [test] extra: HA's harness pins its own pytest and pytest-asyncio.
# mypy: run-tests.sh type-checks the component against HA's own type hints.
"$venv/bin/python" -m pip install "hypothesis>=6.100" "mypy>=1.10"

# Fail loudly if the HA pins broke wattbridge or the other way round.
"$venv/bin/python" - <<'PY'
import importlib.metadata as md

import wattbridge  # noqa: F401

paho = md.version("paho-mqtt")
assert paho.startswith("1.6."), f"paho-mqtt {paho}: HA 2024.3.3 pins 1.6.1"
print("HA venv ready: homeassistant", md.version("homeassistant"), "paho-mqtt", paho)
PY
