"""Issue 14, item 9: the state folder is the owner's alone (folders 0700, files 0600),
checked on what a real ``wattbridge run`` leaves behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

from wattbridge import private_dir, private_file, write_private
from wattbridge.testing import wait_until

CONFIG = """
[wattbridge]
state_dir = "state/deeper"
[sources.gen]
plugin = "replay"
rate = 0
count = 500
start = "2026-01-01T00:00:00+00:00"
[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
flush_interval = "50ms"
[[routes]]
from = "gen"
to = "out"
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_run_leaves_only_owner_readable_state(tmp_path: Path) -> None:
    (tmp_path / "w.toml").write_text(CONFIG)
    old_umask = os.umask(0o022)  # the usual default: without care, 0755 and 0644
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wattbridge", "run", "-c", str(tmp_path / "w.toml")],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.umask(old_umask)
    out = tmp_path / "out.jsonl"
    try:
        wait_until(
            lambda: out.exists() and len(out.read_text().splitlines()) == 500,
            timeout=60,
            message="every reading in out.jsonl",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, errors = proc.communicate(timeout=30)
    assert proc.returncode == 0, errors
    state = tmp_path / "state"
    folders = [state, *(p for p in state.rglob("*") if p.is_dir())]
    files = [p for p in state.rglob("*") if p.is_file()]
    assert {p.relative_to(state).as_posix() for p in files} >= {
        "deeper/outbox/out.sqlite",
        "deeper/runtime.json",
        "deeper/sources/gen/progress.json",
    }
    assert {p.relative_to(tmp_path).as_posix(): oct(mode(p)) for p in folders} == {
        p.relative_to(tmp_path).as_posix(): "0o700" for p in folders
    }
    assert {p.relative_to(tmp_path).as_posix(): oct(mode(p)) for p in files} == {
        p.relative_to(tmp_path).as_posix(): "0o600" for p in files
    }


def test_an_existing_folder_keeps_its_mode_and_an_old_file_is_narrowed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    private_dir(shared / "a" / "b")
    assert mode(shared) == 0o755  # not ours to narrow: it may be /var/lib or a home
    assert mode(shared / "a") == mode(shared / "a" / "b") == 0o700
    old = shared / "old.sqlite"
    old.write_text("x")
    os.chmod(old, 0o644)
    private_file(old)
    assert mode(old) == 0o600 and old.read_text() == "x"
    write_private(shared / "state.json", "{}")
    assert mode(shared / "state.json") == 0o600
    assert not list(shared.glob(".*.tmp"))
