"""The example third-party plugin installs with pip and runs through its entry point."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "third-party-plugin"


def test_install_list_and_run(tmp_path):
    target = tmp_path / "site"
    source = tmp_path / "src"
    shutil.copytree(EXAMPLE, source)  # pip builds in place; keep the repo clean
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    listed = subprocess.run(
        [sys.executable, "-m", "wattbridge", "plugins", "--json"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    counter = next(r for r in json.loads(listed.stdout) if r["type"] == "counter")
    assert counter == {"kind": "source", "type": "counter", "plugin": "counter", "version": "1.2.0"}

    config = tmp_path / "counter.toml"
    config.write_text(
        (EXAMPLE / "counter.toml").read_text().replace('interval = "1s"', 'interval = "100ms"')
    )
    checked = subprocess.run(
        [sys.executable, "-m", "wattbridge", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert checked.returncode == 0, checked.stderr
    run = subprocess.Popen(
        [sys.executable, "-m", "wattbridge", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    first = [json.loads(run.stdout.readline()) for _ in range(3)]
    run.terminate()
    assert run.wait(20) == 0
    assert [r["value"] for r in first] == [0.0125, 0.025, 0.0375]
    assert {r["unit"] for r in first} == {"kWh"}
    assert {r["source"] for r in first} == {"meter"}
