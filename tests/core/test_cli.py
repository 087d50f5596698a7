"""The command line: what each command prints, and exit codes scripts can rely on."""

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from wattbridge import Reading, __version__, exitcodes
from wattbridge._cli import main
from wattbridge._outbox import Outbox

GOOD = """
[wattbridge]
state_dir = "state"
[sources.demo]
plugin = "replay"
count = 10
[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
[[routes]]
from = "demo"
to = "out"
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text(GOOD)
    return path


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"wattbridge {__version__}"


def test_check_ok_and_config_error_codes(config, capsys, tmp_path):
    assert main(["check", "-c", str(config)]) == exitcodes.OK
    assert "ok (1 source(s), 1 sink(s), 1 route(s))" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[sinks.out]\nplugin = "jsonl"\npth = "x"\n[sinks.b]\nplugin = "nope"\n')
    assert main(["check", "-c", str(bad)]) == exitcodes.CONFIG
    err = capsys.readouterr().err
    assert "2 problems in the config" in err
    assert f"{bad}:3: [sinks.out] pth: unknown key for plugin 'jsonl'; did you mean 'path'?" in err
    assert main(["check", "-c", str(tmp_path / "missing.toml")]) == exitcodes.CONFIG


def test_usage_error_is_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == exitcodes.USAGE


def test_plugins_lists_types_with_plugin_and_version(capsys):
    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    jsonl = next(r for r in rows if r["type"] == "jsonl")
    assert jsonl == {
        "kind": "sink",
        "type": "jsonl",
        "plugin": "wattbridge_plugins.sinks.jsonl",
        "version": __version__,
    }


def test_status_and_deadletter_list_replay(config, capsys, tmp_path):
    assert main(["status", "-c", str(config)]) == 0
    assert "never ran" in capsys.readouterr().out
    box = Outbox(tmp_path / "state" / "outbox" / "out.sqlite")
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    box.put([Reading("a", ts, 1), Reading("b", ts, "x")])
    batch = box.take(2)
    box.deadletter({batch.ids[1]: "value 'x' is not a double"})
    box.set_state("last_error", "HTTP 500 from platform")
    box.close()
    # A dead letter is the failing level: exit 2, for monitoring.
    assert main(["status", "--json", "-c", str(config)]) == 2
    status = json.loads(capsys.readouterr().out)["sinks"]["out"]
    assert status["depth"] == 1 and status["dead_letters"] == 1
    assert status["last_error"] == "HTTP 500 from platform"
    assert main(["status", "-c", str(config)]) == 2
    table = capsys.readouterr().out
    assert "sink out: 1 dead letter(s)" in table
    assert "HTTP 500 from platform" in table and "2026-01-01T00:00:00+00:00" in table
    assert main(["deadletter", "list", "--json", "-c", str(config)]) == 0
    letter = json.loads(capsys.readouterr().out)
    assert letter["reason"] == "value 'x' is not a double" and letter["value"] == "x"
    assert main(["deadletter", "replay", "--sink", "out", "-c", str(config)]) == 0
    assert "1 dead letter(s) queued again" in capsys.readouterr().out
    assert main(["status", "-c", str(config)]) == 0
    assert main(["deadletter", "list", "--sink", "nope", "-c", str(config)]) == exitcodes.NOT_FOUND


def test_run_failure_is_exit_1_with_a_json_log_line_and_no_secret(tmp_path, monkeypatch):
    path = tmp_path / "w.toml"
    # streams = [] makes the replay source refuse to start.
    path.write_text(GOOD.replace("count = 10", "count = 10\nstreams = []"))
    proc = subprocess.run(
        [sys.executable, "-m", "wattbridge", "--log-format", "json", "run", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == exitcodes.FAILURE
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    assert records[-1]["level"] == "error"
    assert records[-1]["message"] == (
        "wattbridge stopped: ValueError: streams: give at least one stream name"
    )
    assert {"time", "logger"} <= set(records[-1])


def test_json_formatter_redacts_secrets_in_messages_and_tracebacks():
    import io
    import logging

    from wattbridge._logs import setup_logging
    from wattbridge._secret import Secret

    token = Secret("tok-abcdef-123456").reveal()
    stream = io.StringIO()
    setup_logging("info", "json", stream)
    logger = logging.getLogger("wattbridge.test")
    logger.info("connecting with %s", token)
    try:
        raise ConnectionError(f"refused for token {token}")
    except ConnectionError:
        logger.exception("failed")
    setup_logging("warning", "text")
    text = stream.getvalue()
    assert token not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["message"] == "connecting with ***"
    assert "refused for token ***" in second["traceback"]


def test_run_until_idle_delivers_and_exits(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text(GOOD.replace("count = 10", "count = 10\nrate = 0"))
    proc = subprocess.run(
        [sys.executable, "-m", "wattbridge", "run", "-c", str(path), "--until-idle", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 10


def test_text_formatter_redacts_secrets_in_messages_and_tracebacks():
    import io
    import logging

    from wattbridge._logs import setup_logging
    from wattbridge._secret import Secret

    token = Secret("tok-text-654321").reveal()
    stream = io.StringIO()
    setup_logging("info", "text", stream)
    logger = logging.getLogger("wattbridge.test")
    logger.info("connecting with %s", token)
    try:
        raise ConnectionError(f"refused for token {token}")
    except ConnectionError:
        logger.exception("failed")
    setup_logging("warning", "text")
    text = stream.getvalue()
    assert token not in text
    assert "connecting with ***" in text and "refused for token ***" in text


def test_the_log_follows_standard_error_when_it_is_swapped(monkeypatch):
    # A harness (pytest) or an embedding program replaces sys.stderr and closes the old
    # one; records must go to the new one, never "--- Logging error --- closed file".
    import io
    import logging

    from wattbridge._logs import setup_logging

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging("info", "text")
    logging.getLogger("wattbridge.test").info("to the first")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("wattbridge.test").info("to the second")
    setup_logging("warning", "text")
    assert "to the second" in second.getvalue()
    assert "Logging error" not in second.getvalue()
