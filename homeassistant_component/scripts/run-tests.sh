#!/usr/bin/env bash
# Run the Home Assistant custom component's tests in the HA venv made by
# setup-test-venv.sh. Usage: homeassistant_component/scripts/run-tests.sh VENV [pytest args]
set -euo pipefail
if [[ $# -lt 1 ]]; then
    echo "usage: $0 VENV [pytest args...]" >&2
    exit 2
fi
venv=$1
shift
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
# The repo's addopts ignore tests/homeassistant_component (the main venv cannot run
# them), so they are replaced here; asyncio_mode=auto as HA's own tests use it.
exec "$venv/bin/python" -m pytest \
    -o addopts="--import-mode=importlib" \
    -o asyncio_mode=auto \
    -p no:cacheprovider \
    tests/homeassistant_component "$@"
