"""The example config runs end to end against `wattbridge sandbox energinet`, both as
real processes, exactly as its comments tell a user to run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from wattbridge.testing import free_port, wait_until

EXAMPLE = Path(__file__).parents[4] / "examples" / "energinet-sandbox.toml"


def stop(process):
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def test_example_against_the_sandbox_command(tmp_path):
    env = {
        **os.environ,
        "WATTBRIDGE_DISABLE_PLUGIN_AUTOLOAD": "1",
        "WATTBRIDGE_ENERGINET_SANDBOX_WINDOW": "5",
    }
    port = free_port()
    command = [sys.executable, "-m", "wattbridge"]
    sandbox = subprocess.Popen(
        [*command, "sandbox", "energinet", "--port", str(port), "--state-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    run = None
    try:
        assert sandbox.stdout is not None
        lines = [sandbox.stdout.readline().strip() for _ in range(3)]
        assert lines[0] == f"energinet: http://127.0.0.1:{port}/apiImport/data"
        tokens = dict(line.removeprefix("token ").split(": ") for line in lines[1:])
        config = tmp_path / "example.toml"
        config.write_text(EXAMPLE.read_text().replace("8765", str(port)))
        env["ENERGINET_SANDBOX_TOKEN_1"] = tokens["sender-1"]
        env["ENERGINET_SANDBOX_TOKEN_2"] = tokens["sender-2"]
        run = subprocess.Popen(
            [*command, "run", "-c", str(config)], env=env, stderr=subprocess.DEVNULL
        )
        values_url = f"http://127.0.0.1:{port}/_sandbox/values"

        def stored():
            values = requests.get(values_url, timeout=5).json()
            return {meter: len(series) for meter, series in values.items()}

        wait_until(
            lambda: stored() == {"7777777777": 480, "6666666666": 480},
            timeout=60,
            interval=0.2,
            message="the example's 960 readings in the sandbox",
        )
        statuses = [
            r["status"]
            for r in requests.get(values_url.replace("values", "requests"), timeout=5).json()
        ]
        assert statuses == [200, 200]  # one request per sender, nothing refused
    finally:
        if run is not None:
            stop(run)
        stop(sandbox)
