"""``wattbridge import`` and ``wattbridge fetch`` through the real command line code, the
sample config, and the CSV reader that ``import`` uses."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattbridge import DataError
from wattbridge._cli import main
from wattbridge._config import load_config
from wattbridge._plugins import load_plugins
from wattbridge.testing import outbox_depth, wait_until
from wattbridge_plugins.common.energydata_csv import format_ms, parse_timestamp
from wattbridge_plugins.sinks.energydata.batch.importer import read_chunks

PLUGIN_DIR = Path(__file__).parents[5] / "plugins" / "wattbridge_plugins" / "sinks"
T0 = parse_timestamp("2024-01-01T00:00:00.000Z")

CONFIG = """
[wattbridge]
state_dir = "state"

[sinks.edk]
plugin = "energydata-batch"
url = "{url}"
token = {{env = "EDK_TOKEN"}}
datastreams = {{"my/topic" = "double", "119221" = "integer", "demo/status" = "string"}}
import_size = {size}
poll_initial = "20ms"
poll_max = "100ms"
retry_initial = "20ms"
"""


def write_config(tmp_path: Path, sandbox: Any, size: int = 1000) -> Path:
    path = tmp_path / "wattbridge.toml"
    path.write_text(CONFIG.format(url=sandbox.url, size=size), encoding="utf-8")
    return path


def write_csv(path: Path, rows: int, start: int = 0) -> Path:
    lines = [";my/topic;119221;demo/status\r\n"]
    for n in range(start, start + rows):
        status = '"a;""b"""' if n % 3 == 0 else ("" if n % 3 == 1 else f"s{n}")
        count = "" if n % 5 == 0 else str(n)
        lines.append(f"{format_ms(T0 + n * 1000)};{n / 4};{count};{status}\r\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def expected(sandbox: Any, rows: int) -> dict[tuple[int, int], Any]:
    ids = {n: sandbox.store.resolve(n).id for n in ("my/topic", "119221", "demo/status")}
    values: dict[tuple[int, int], Any] = {}
    for n in range(rows):
        ms = T0 + n * 1000
        values[(ids["my/topic"], ms)] = n / 4
        if n % 5:
            values[(ids["119221"], ms)] = n
        # An empty field of a string datastream is an empty string, not nothing.
        values[(ids["demo/status"], ms)] = (
            'a;"b"' if n % 3 == 0 else ("" if n % 3 == 1 else f"s{n}")
        )
    return values


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> None:
    monkeypatch.setenv("EDK_TOKEN", sandbox.tokens["write"])
    monkeypatch.setenv("EDK_READ", sandbox.tokens["read"])
    monkeypatch.setenv("EDK_NONE", sandbox.tokens["none"])


def test_import_delivers_a_file_and_a_rerun_queues_nothing(
    tmp_path: Path, sandbox: Any, token_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sandbox)
    data = write_csv(tmp_path / "history.csv", 700)
    args = ["import", str(data), "--sink", "edk", "-c", str(config), "--no-progress"]
    assert main([*args, "--chunk", "100"]) == 0
    assert sandbox.stored() == expected(sandbox, 700)
    imports = len(sandbox.imports())
    assert imports >= 3  # 700 rows of up to 3 values, 1000 readings an import
    assert main(args) == 0
    assert "already queued" in capsys.readouterr().out
    assert len(sandbox.imports()) == imports


def test_a_bad_row_stops_the_import_naming_file_and_line(
    tmp_path: Path, sandbox: Any, token_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sandbox)
    data = write_csv(tmp_path / "bad.csv", 5)
    text = data.read_text(encoding="utf-8").replace(";2;s2", ";2.5;s2")
    data.write_text(text, encoding="utf-8")
    args = ["import", str(data), "--sink", "edk", "-c", str(config), "--no-progress"]
    assert main([*args, "--chunk", "1"]) == 1
    assert f"{data}:4: '2.5' is not an integer" in capsys.readouterr().err
    assert main([*args, "--skip-bad"]) == 0
    assert len({ts for (_ds, ts) in sandbox.stored()}) == 4


def test_import_refuses_a_column_the_sink_does_not_declare(
    tmp_path: Path, sandbox: Any, token_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sandbox)
    data = tmp_path / "other.csv"
    data.write_text(";house/power_w\n2024-01-01T00:00:00.000Z;1\n", encoding="utf-8")
    assert main(["import", str(data), "--sink", "edk", "-c", str(config), "--no-progress"]) == 1
    assert "house/power_w not in the sink's datastreams" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_import_resumes_without_queueing_a_row_twice(
    tmp_path: Path, sandbox: Any, token_env: None
) -> None:
    config = write_config(tmp_path, sandbox, size=1000)
    data = write_csv(tmp_path / "big.csv", 4000)
    command = [sys.executable, "-m", "wattbridge", "import", str(data), "--sink", "edk",
               "-c", str(config), "--chunk", "250", "--no-progress"]  # fmt: skip
    outbox = tmp_path / "state" / "outbox" / "edk.sqlite"

    def queued() -> int:
        return outbox_depth(outbox) or 0

    sandbox.faults.hold("validating")  # deliveries stall; the queue fills ahead of them
    log = (tmp_path / "import.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        wait_until(lambda: queued() >= 2000, 60, message="rows queued ahead")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    sandbox.faults.clear()
    done = subprocess.run(command, capture_output=True, env=os.environ.copy(), timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert sandbox.stored() == expected(sandbox, 4000)
    with sqlite3.connect(outbox) as db:
        state = dict(db.execute("SELECT key, value FROM state").fetchall())
    # Every reading was sent once: nothing queued twice, nothing lost.
    assert int(state["sent_total"]) == len(expected(sandbox, 4000))
    assert json.loads(next(v for k, v in state.items() if "import-file" in k))["complete"]


def _file_progress(outbox: Path) -> dict[str, Any]:
    """The import's saved progress of its one file ({} before there is any)."""
    if not outbox.exists():
        return {}
    with sqlite3.connect(outbox, timeout=30) as db:
        rows = db.execute("SELECT value FROM state WHERE key LIKE 'sink:import-file:%'").fetchall()
    return json.loads(rows[0][0]) if rows else {}


@pytest.mark.slow
def test_an_import_killed_between_a_chunk_and_its_record_queues_every_row_once(
    tmp_path: Path, sandbox: Any, token_env: None
) -> None:
    # SIGKILL while a file of doubles (read a chunk at a time, queued as columns) is
    # queued, until a kill lands between a chunk's saved intent and its saved result:
    # the rerun must ask the queue whether that chunk went in, not guess.
    config = write_config(tmp_path, sandbox, size=5000)
    rows = 60_000
    data = tmp_path / "doubles.csv"
    lines = (f"{format_ms(T0 + n * 1000)};{n / 4}\r\n" for n in range(rows))
    data.write_text(";my/topic\r\n" + "".join(lines), encoding="utf-8")
    command = [sys.executable, "-m", "wattbridge", "import", str(data), "--sink", "edk",
               "-c", str(config), "--chunk", "100", "--no-progress"]  # fmt: skip
    outbox = tmp_path / "state" / "outbox" / "edk.sqlite"
    random = Random(17)
    caught = 0
    for _attempt in range(100):
        if caught == 2 or _file_progress(outbox).get("complete"):
            break
        before = outbox_depth(outbox) or 0
        proc = subprocess.Popen([*command, "--no-wait"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            # Once it queues, kill it a moment later: somewhere in a chunk's steps.
            wait_until(
                lambda proc=proc, before=before: (
                    (outbox_depth(outbox) or 0) > before or proc.poll() is not None
                ),
                60, interval=0.005, message="a chunk queued",
            )  # fmt: skip
            time.sleep(random.uniform(0, 0.02))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        caught += bool(_file_progress(outbox).get("pending"))
    assert caught, "no kill landed between a chunk's intent and its result"
    done = subprocess.run(command, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    ds = sandbox.store.resolve("my/topic").id
    assert sandbox.stored() == {(ds, T0 + n * 1000): n / 4 for n in range(rows)}
    with sqlite3.connect(outbox) as db:
        state = dict(db.execute("SELECT key, value FROM state").fetchall())
    assert int(state["sent_total"]) == rows  # each reading sent once: none queued twice


def test_fetch_downloads_ranges_and_latest(
    tmp_path: Path, sandbox: Any, token_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sandbox)
    data = write_csv(tmp_path / "history.csv", 10)
    assert main(["import", str(data), "--sink", "edk", "-c", str(config), "--no-progress"]) == 0
    out = tmp_path / "out.csv"
    common = ["--url", sandbox.url, "--token-env", "EDK_READ", "-o", str(out), "--no-progress"]
    frm, to = format_ms(T0 + 1000), format_ms(T0 + 3000)
    assert main(["fetch", "--ids", "117218,119221", "--from", frm, "--to", to, *common]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        ";117218;119221", f"{frm};0.25;1", f"{format_ms(T0 + 2000)};0.5;2",
    ]  # fmt: skip
    assert main(["fetch", "--ids", "my/topic", "--latest", *common]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[1] == f"{format_ms(T0 + 9000)};2.25"
    # Through the sink's own url and token:
    args = ["fetch", "--ids", "117218", "--latest", "-c", str(config), "--sink", "edk"]
    assert main([*args, "-o", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["fetch", "--ids", "117218", "--from", "2024-01-01T00:00:00", "--to", to,
                 *common]) == 2  # fmt: skip
    assert "no time zone" in capsys.readouterr().err
    none = ["--url", sandbox.url, "--token-env", "EDK_NONE", "-o", str(out), "--no-progress"]
    assert main(["fetch", "--ids", "117218", "--latest", *none]) == 1
    error = capsys.readouterr().err
    assert "403" in error and "no read access" in error and sandbox.tokens["none"] not in error


def test_fetch_writes_through_a_symlink_and_to_dev_stdout(
    tmp_path: Path, sandbox: Any, token_env: None
) -> None:
    config = write_config(tmp_path, sandbox)
    data = write_csv(tmp_path / "history.csv", 4)
    assert main(["import", str(data), "--sink", "edk", "-c", str(config), "--no-progress"]) == 0
    common = ["--ids", "my/topic", "--latest", "--url", sandbox.url, "--token-env", "EDK_READ"]
    # A link to a regular file: the file is replaced atomically, the link stays a link.
    real = tmp_path / "real.csv"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert main(["fetch", *common, "-o", str(link), "--no-progress"]) == 0
    assert link.is_symlink() and real.read_text(encoding="utf-8").startswith(";my/topic")
    # /dev/stdout (a link to a pipe here): written through, never replaced by a file.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wattbridge",
            "fetch",
            *common,
            "-o",
            "/dev/stdout",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == ";my/topic"
    assert Path("/dev/stdout").is_symlink() or not Path("/dev/stdout").is_file()


def test_the_sample_config_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDK_TOKEN", "a-token-for-the-check")
    config = load_config(PLUGIN_DIR / "energydata" / "batch" / "sample.toml", load_plugins())
    assert config.sinks["edk"].type.name == "energydata-batch"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200) | st.text(alphabet=';"\r\n0123456789.-TZ:ab', max_size=200))
def test_the_import_reader_never_crashes_on_random_input(tmp_path_factory: Any, data: Any) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "in.csv"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    types = {"a": "string", "b": "double", "1": "integer"}
    for guessed in (None, types):
        try:
            for rows, chunk in read_chunks(path, guessed, chunk_rows=3):  # type: ignore[arg-type]
                assert rows >= 0 and all(isinstance(stamp, int) for stamp in chunk.stamps)
        except DataError as exc:
            assert exc.where.startswith(str(path))


def test_the_example_config_imports_the_example_file(
    tmp_path: Path, sandbox: Any, token_env: None
) -> None:
    examples = Path(__file__).parents[5] / "examples"
    text = (examples / "energydata-batch-sandbox.toml").read_text(encoding="utf-8")
    config = tmp_path / "example.toml"
    config.write_text(text.replace("http://127.0.0.1:8766", sandbox.url), encoding="utf-8")
    data = examples / "energydata-history.csv"
    # With the progress bars on, as a user runs it.
    assert main(["import", str(data), "--sink", "edk", "-c", str(config)]) == 0
    stored = sandbox.stored()
    assert stored[(117217, 1615407873186)] == ""  # the documented example's empty string
    assert (117218, 1615407874201) not in stored  # and its "no value"
    assert len(stored) == 14


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("2024-01-01T00:00:09;1.0;1;x", "has no time zone"),
        ("2024-01-01T00:00:09.000+0100;1.0;1;x", "not ISO 8601"),
        ("2024-01-01T00:00:09.000Z;1.0;1", "expected 4 fields"),
        ("2024-01-01T00:00:09.000Z;nan;1;x", "not a number"),
    ],
)
def test_the_import_edge_refuses_bad_rows_with_file_and_line(
    tmp_path: Path, sandbox: Any, token_env: None, capsys: pytest.CaptureFixture[str],
    row: str, words: str,
) -> None:  # fmt: skip
    config = write_config(tmp_path, sandbox)
    data = write_csv(tmp_path / "edge.csv", 3)
    data.write_text(data.read_text(encoding="utf-8") + row + "\r\n", encoding="utf-8")
    args = ["import", str(data), "--sink", "edk", "-c", str(config), "--no-progress"]
    assert main(args) == 1
    assert f"{data}:5: " in (err := capsys.readouterr().err) and words in err
    assert len({ts for (_ds, ts) in sandbox.stored()}) == 3  # the rows before it went in
