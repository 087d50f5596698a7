"""The ``wattbridge`` program as tests run it: a command to completion, ``run`` as a
process of its own (to SIGKILL, to fill its disk, to start twice), and ``status
--json`` read back. Public through :mod:`wattbridge.testing`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wattbridge._health import Level

HEALTH_CODES = {int(level) for level in Level}
"""``status``'s exit codes: how healthy delivery is, not whether the command worked."""


def program_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, without third-party plugins autoloaded, plus ``extra``."""
    return {**os.environ, "WATTBRIDGE_DISABLE_PLUGIN_AUTOLOAD": "1", **(extra or {})}


def wattbridge_command(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``wattbridge ARGS`` to completion (this Python), capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "wattbridge", *args],
        env=program_environment(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_wattbridge(
    config: Path, *args: str, log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``wattbridge run -c CONFIG ARGS`` in the config's folder, its output
    appended to ``log`` (a file: a pipe nobody reads would block it)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "wattbridge", "run", "-c", str(config), *args],
            cwd=config.parent,
            env=program_environment(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_wattbridge(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM (if still running) and wait; SIGKILL after ``timeout``. Its exit code."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def wattbridge_status(config: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``wattbridge status --json -c CONFIG``, parsed, whatever health it reports (its
    exit code 0, 1 or 2); AssertionError with its stderr if it fails otherwise."""
    result = wattbridge_command("status", "--json", "-c", str(config), env=env)
    assert result.returncode in HEALTH_CODES, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data
