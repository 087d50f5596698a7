"""``wattbridge sandbox`` as a user runs it: every sandbox at once, the MQTT door's CA
printed, and the example config delivering over MQTT what the HTTP door then serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from wattbridge.testing import free_port, wait_until

EXAMPLES = Path(__file__).parents[5] / "examples"
WATTBRIDGE = [sys.executable, "-m", "wattbridge"]


def read_banner(process: subprocess.Popen[str], names: int) -> dict[str, dict[str, str]]:
    """What ``wattbridge sandbox`` prints before it serves: per sandbox, its url, CA and
    tokens."""
    assert process.stdout is not None
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    while len(found) < names or not current.get("tokens done"):
        line = process.stdout.readline()
        assert line, f"the sandbox ended: {found}"
        if not line.startswith(" "):
            name, url = line.strip().split(": ", 1)
            current = found[name] = {"url": url}
        elif line.strip().startswith("CA certificate"):
            current["ca"] = line.split(": ", 1)[1].strip()
        else:
            label, token = line.strip().removeprefix("token ").split(": ")
            current[label] = token
            current["tokens done"] = "yes" if label == "none" else ""
    return found


def test_the_example_publishes_over_mqtt_and_the_fetch_api_serves_it(tmp_path: Path) -> None:
    port = free_port()  # the MQTT door takes the next one
    sandbox = subprocess.Popen(
        [*WATTBRIDGE, "sandbox", "energydata", "energydata-mqtt", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    run = None
    try:
        banner = read_banner(sandbox, 2)
        assert banner["energydata"]["url"] == f"http://127.0.0.1:{port}"
        assert banner["energydata-mqtt"]["url"] == f"mqtts://127.0.0.1:{port + 1}"
        ca = Path(banner["energydata-mqtt"]["ca"])
        assert ca == tmp_path / "sandbox-state" / "energydata-mqtt" / "tls" / "ca.crt"
        # The same store: the same tokens at both doors.
        assert banner["energydata"]["write"] == banner["energydata-mqtt"]["write"]
        (tmp_path / "examples").mkdir()
        config = tmp_path / "examples" / "energydata-mqtt-sandbox.toml"
        text = (EXAMPLES / config.name).read_text(encoding="utf-8")
        assert text.count("port = 8767") == 1
        config.write_text(text.replace("port = 8767", f"port = {port + 1}"), encoding="utf-8")
        env = {**os.environ, "EDK_TOKEN": banner["energydata-mqtt"]["write"]}
        run = subprocess.Popen(
            [*WATTBRIDGE, "run", "-c", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        read = {"Authorization": f"Bearer {banner['energydata']['read']}"}

        def latest() -> Any:
            answer = requests.get(
                f"http://127.0.0.1:{port}/api/v1/datastreams/values",
                params={"ids": "house/power_w,house/import_kwh", "latest": "True"},
                headers={"Accept": "application/json", **read},
                timeout=5,
            )
            assert answer.status_code == 200, answer.text
            rows = answer.text.splitlines()
            return len(rows) > 1 and rows

        rows = wait_until(latest, timeout=30, message="values fetched over HTTP")
        assert rows[0] == ";house/power_w;house/import_kwh"
    finally:
        if run is not None:
            run.terminate()
            errors = run.communicate(timeout=30)[1]
            assert banner["energydata-mqtt"]["write"] not in errors
        sandbox.terminate()
        sandbox.communicate(timeout=30)


def test_sigterm_stops_the_mqtt_doors_mosquitto_too(tmp_path: Path) -> None:
    port = free_port()
    sandbox = subprocess.Popen(
        [*WATTBRIDGE, "sandbox", "energydata-mqtt", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        read_banner(sandbox, 1)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        sandbox.terminate()  # as systemd or `kill` stop it
        sandbox.communicate(timeout=30)
    assert sandbox.returncode == 0

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        return False

    # Before, the broker ran on as an orphan, still listening.
    wait_until(refused, timeout=15, message="the door's Mosquitto stopped")


def test_without_mosquitto_the_default_set_starts_the_rest_and_the_mqtt_door_says_why(
    tmp_path: Path,
) -> None:
    # A PATH with neither mosquitto nor mosquitto_passwd (python is called by its path).
    env = {**os.environ, "PATH": str(tmp_path)}
    alone = subprocess.run(
        [*WATTBRIDGE, "sandbox", "energydata-mqtt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert alone.returncode == 1
    assert "apt-get install mosquitto" in alone.stderr
    every = subprocess.Popen(
        [*WATTBRIDGE, "sandbox"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert every.stdout is not None
        names = set()
        while len(names) < 2:
            line = every.stdout.readline()
            assert line, "the sandboxes ended"
            if not line.startswith(" "):
                names.add(line.split(":")[0])
        assert names == {"energydata", "energinet"}
        assert every.stderr is not None
        said = ""
        while "energydata-mqtt: not started" not in said:
            said = every.stderr.readline()
            assert said, "the sandboxes ended"
        assert "mosquitto is not installed: apt-get install mosquitto" in said
        assert every.poll() is None  # the others go on serving
    finally:
        every.terminate()
        every.communicate(timeout=30)
