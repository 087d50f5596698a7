#!/usr/bin/env bash
# Run the Home Assistant custom component's tests in the HA venv made by
# setup-test-venv.sh. Usage: homeassistant_component/scripts/run-tests.sh VENV [pytest args]
set -euo pipefail
if [[ $# -lt 1 ]]; then
    echo "usage: $0 VENV [pytest args...]" >&2
    exit 2
fi
if [[ ! -x "$1/bin/python" ]]; then
    echo "no venv at $1: run homeassistant_component/scripts/setup-test-venv.sh $1" >&2
    exit 2
fi
venv=$(cd "$1" && pwd)
shift
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
# Type-check the component where HA's types are installed (the main venv has no HA),
# against the newest HA's types only: the code is typed for today's HA (a generic
# ConfigEntry, ConfigFlowResult), which HA 2024.3 lacks; it runs there unchanged.
if "$venv/bin/python" -c "import sys, homeassistant.const as c; sys.exit(c.MAJOR_VERSION < 2026)"; then
    (cd homeassistant_component && "$venv/bin/python" -m mypy --ignore-missing-imports \
        --check-untyped-defs --explicit-package-bases custom_components/wattbridge)
fi
# The repo's addopts ignore tests/homeassistant_component (the main venv cannot run
# them), so they are replaced here; asyncio_mode=auto as HA's own tests use it.
exec "$venv/bin/python" -m pytest \
    -o addopts="--import-mode=importlib" \
    -o asyncio_mode=auto \
    -p no:cacheprovider \
    tests/homeassistant_component "$@"
