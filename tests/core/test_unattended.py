"""What running unattended needs, command by command: where the config is found,
``status`` exit codes for monitoring without the sinks' secrets, purging dead letters,
logs for journald or a rotating file, broken third-party plugins, missing extras."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge import Reading, exitcodes
from wattbridge import _configpath as configpath
from wattbridge._cli import main
from wattbridge._configpath import CONFIG_ENV, find_config, read_local_view
from wattbridge._deliverystate import DeliveryState, Retrying
from wattbridge._logs import setup_logging
from wattbridge._outbox import Outbox
from wattbridge._plugins import load_plugins
from wattbridge._reload import purge_expired
from wattbridge._runtime import Runtime, stats_path
from wattbridge._servicesettings import LogSettings, split_listen
from wattbridge._stats import Stats

# A sink whose token comes from a variable that is not set where `status` runs.
SECRET_CONFIG = """
[wattbridge]
state_dir = "state"
dead_letter_retention = "30d"

[sources.demo]
plugin = "replay"
count = 3

[sinks.edk]
plugin = "energydata-batch"
url = "https://admin.energydata.dk"
token = {env = "EDK_TOKEN_NOT_SET_HERE"}
datastreams = {"my/topic" = "double"}

[[routes]]
from = "demo"
to = "edk"
"""

TS = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def secret_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("EDK_TOKEN_NOT_SET_HERE", raising=False)
    path = tmp_path / "wattbridge.toml"
    path.write_text(SECRET_CONFIG, encoding="utf-8")
    return path


def outbox_of(config: Path) -> Outbox:
    return Outbox(config.parent / "state" / "outbox" / "edk.sqlite")


# -- finding the config --------------------------------------------------------------


def test_config_is_found_at_c_then_env_then_here_then_etc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    system = tmp_path / "etc" / "wattbridge.toml"  # stands in for /etc/wattbridge/...
    monkeypatch.setattr(configpath, "SYSTEM_CONFIG", system)
    assert find_config(None) == Path("wattbridge.toml")  # none anywhere: the first, to name
    system.parent.mkdir()
    system.write_text("", encoding="utf-8")
    assert find_config(None) == system  # nothing here: the system's
    (here / "wattbridge.toml").write_text("", encoding="utf-8")
    assert find_config(None) == Path("wattbridge.toml")
    elsewhere = tmp_path / "elsewhere.toml"
    monkeypatch.setenv(CONFIG_ENV, str(elsewhere))
    assert find_config(None) == elsewhere  # set: used, even before it exists
    given_path = tmp_path / "given.toml"
    assert find_config(given_path) == given_path


def test_a_missing_config_names_every_place_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    if Path("/etc/wattbridge/wattbridge.toml").exists():
        pytest.fail("/etc/wattbridge/wattbridge.toml exists on this machine: remove it")
    assert main(["check"]) == exitcodes.CONFIG
    err = capsys.readouterr().err
    assert "wattbridge.toml (the current folder)" in err
    assert "/etc/wattbridge/wattbridge.toml (the system config)" in err


def test_check_reads_the_config_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "service.toml"
    path.write_text(SECRET_CONFIG.replace('{env = "EDK_TOKEN_NOT_SET_HERE"}', '"tok-12345"'))
    path.chmod(0o600)
    monkeypatch.setenv(CONFIG_ENV, str(path))
    monkeypatch.chdir(tmp_path.parent)
    assert main(["check"]) == 0
    assert f"{path}: ok" in capsys.readouterr().out


# -- status and dead letters without secrets ------------------------------------------


def test_status_and_deadletter_list_need_no_secrets(
    secret_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The full config cannot load here (its token's variable is unset) ...
    assert main(["check", "-c", str(secret_config)]) == exitcodes.CONFIG
    capsys.readouterr()
    # ... yet status (never ran: healthy) and deadletter list read the local files.
    assert main(["status", "-c", str(secret_config)]) == 0
    assert "never ran" in capsys.readouterr().out
    box = outbox_of(secret_config)
    box.put([Reading("my/topic", TS, 1.0), Reading("my/topic", TS + timedelta(seconds=1), 2.0)])
    batch = box.take(2)
    box.deadletter({batch.ids[0]: "refused by the platform"})
    box.close()
    assert main(["status", "-c", str(secret_config)]) == 2
    out = capsys.readouterr().out
    assert "health: failing" in out and "sink edk: 1 dead letter(s)" in out
    assert main(["deadletter", "list", "--json", "-c", str(secret_config)]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "refused by the platform"
    # replay assigns credentials as the sink now says: that one needs the config whole.
    assert main(["deadletter", "replay", "-c", str(secret_config)]) == exitcodes.CONFIG


def test_status_is_1_while_retrying_or_a_source_fails_and_0_once_well(
    secret_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = outbox_of(secret_config)
    box.put([Reading("my/topic", TS, 1.0)])
    DeliveryState(box).failed("", Retrying(1, time.time() + 5), "HTTP 503", time.time())
    box.close()
    assert main(["status", "--json", "-c", str(secret_config)]) == 1
    health = json.loads(capsys.readouterr().out)["health"]
    assert health == {"level": "warning", "reasons": ["sink edk: retrying: HTTP 503"]}
    # It sent since: healthy, even with the old error still shown.
    box = outbox_of(secret_config)
    batch = box.take(1)
    box.ack(batch.ids, DeliveryState.succeeded("", time.time() + 1))
    box.close()
    assert main(["status", "-c", str(secret_config)]) == 0
    # A failing source (as the runtime saves it) is a warning too.
    stats = Stats(stats_path(secret_config.parent / "state"))
    stats.error("source.demo", "ConnectionError: no answer")
    stats.save()
    assert main(["status", "-c", str(secret_config)]) == 1
    assert "source demo: ConnectionError: no answer" in capsys.readouterr().out


def test_deadletter_purge_deletes_only_the_old_ones(
    secret_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = outbox_of(secret_config)
    box.put([Reading("my/topic", TS + timedelta(seconds=n), float(n)) for n in range(3)])
    batch = box.take(3)
    box.deadletter({i: "refused" for i in batch.ids})
    box.close()
    with sqlite3.connect(secret_config.parent / "state" / "outbox" / "edk.sqlite") as db:
        db.execute("UPDATE deadletter SET failed_at = ? WHERE id <= 2", (time.time() - 40 * 86400,))
    args = ["deadletter", "purge", "edk", "--older-than", "30d", "-c", str(secret_config)]
    assert main(args) == 0
    assert "edk: 2 dead letter(s) older than 30d deleted" in capsys.readouterr().out
    box = outbox_of(secret_config)
    assert [letter.reading.value for letter in box.dead_letters()] == [2.0]
    box.close()
    assert main(["deadletter", "purge", "edk", "-c", str(secret_config)]) == exitcodes.USAGE
    bad_age = ["deadletter", "purge", "edk", "--older-than", "soon", "-c", str(secret_config)]
    assert main(bad_age) == exitcodes.USAGE
    assert "--older-than" in capsys.readouterr().err


def test_retention_purges_dead_letters_past_it(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        SECRET_CONFIG.replace('{env = "EDK_TOKEN_NOT_SET_HERE"}', '"tok-12345"'), encoding="utf-8"
    )
    path.chmod(0o600)
    from wattbridge._config import load_config

    registry = load_plugins(entry_points=False)
    config = load_config(path, registry)
    assert config.settings.dead_letter_retention == timedelta(days=30)
    runtime = Runtime(config, registry)
    try:
        box = runtime.outboxes["edk"]
        box.put([Reading("my/topic", TS, 1.0), Reading("my/topic", TS, 2.0)])
        batch = box.take(2)
        box.deadletter({i: "refused" for i in batch.ids})
        box._db.execute(  # one failed 31 days ago
            "UPDATE deadletter SET failed_at = ? WHERE id = ?",
            (time.time() - 31 * 86400, min(letter.id for letter in box.dead_letters())),
        )
        assert purge_expired(runtime, timedelta(days=30)) == 1
        assert len(box.dead_letters()) == 1
    finally:
        runtime.close()


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: JSON's escapes are TOML's, but for DEL."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.just({}),
        max_size=4,
    ),
    st.one_of(
        st.none(),
        # "~name": whether that user exists is the machine's business; the test below
        # holds an unknown one to a clear error.
        st.text(max_size=12).filter(
            lambda s: "\x00" not in s and (not s.startswith("~") or s == "~" or s[1] == "/")
        ),
    ),
)
def test_the_local_view_reads_any_sink_names_and_state_dir(
    sinks: dict[str, dict[str, str]], state_dir: str | None
) -> None:
    import tempfile

    lines = ["[wattbridge]"]
    if state_dir is not None:
        lines.append(f"state_dir = {toml_string(state_dir)}")
    for name in sinks:
        lines.append(f"[sinks.{toml_string(name)}]")
        lines.append('plugin = "whatever"')
        lines.append("token = {env = 'UNSET'}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        view = read_local_view(path)
        assert view.sinks == tuple(sinks)
        expected = Path(state_dir if state_dir is not None else "wattbridge-state").expanduser()
        if not expected.is_absolute():
            expected = (path.parent / expected).resolve()
        assert view.state_dir == expected


def test_a_state_dir_in_an_unknown_users_home_is_named(tmp_path: Path) -> None:
    from wattbridge._configpath import LocalViewError

    path = tmp_path / "w.toml"
    path.write_text('[wattbridge]\nstate_dir = "~no-such-user-here/state"\n', encoding="utf-8")
    with pytest.raises(LocalViewError, match=r"state_dir: ~no-such-user-here: no such user"):
        read_local_view(path)


def test_the_local_view_names_the_file_of_bad_toml(tmp_path: Path) -> None:
    from wattbridge._configpath import LocalViewError

    path = tmp_path / "bad.toml"
    path.write_text("[sinks\n", encoding="utf-8")
    with pytest.raises(LocalViewError, match=r"bad\.toml: not valid TOML"):
        read_local_view(path)


@given(st.text(max_size=30))
def test_listen_is_host_and_port_or_a_clear_error(listen: str) -> None:
    try:
        host, port = split_listen(listen)
    except ValueError as exc:
        assert repr(listen) in str(exc)
    else:
        assert host and 0 <= port <= 65535


# -- logs ----------------------------------------------------------------------------


def test_under_journald_lines_have_a_priority_and_no_timestamp(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import logging, os, sys
        info = os.fstat(2)
        if sys.argv[1] == "journal":
            os.environ["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
        elif sys.argv[1] == "elsewhere":  # inherited, but stderr is not that stream
            os.environ["JOURNAL_STREAM"] = "1:2"
        from wattbridge._logs import setup_logging
        setup_logging("info", "text")
        logging.getLogger("wattbridge.test").warning("disk almost full")
        """
    )
    lines = {}
    for mode in ("journal", "elsewhere", "plain"):
        err = tmp_path / f"{mode}.err"
        with err.open("w") as handle:
            subprocess.run([sys.executable, "-c", script, mode], stderr=handle, check=True)
        lines[mode] = err.read_text().strip()
    assert lines["journal"] == "<4>WARNING wattbridge.test: disk almost full"
    for mode in ("elsewhere", "plain"):
        # A timestamp first: "2026-12-07 16:03:26,685 WARNING ..."
        assert lines[mode].endswith("WARNING wattbridge.test: disk almost full")
        datetime.strptime(lines[mode][:19], "%Y-%m-%d %H:%M:%S")


def test_log_file_rotates_by_size_and_keeps_as_many_as_told(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "wattbridge.log"
    try:
        setup_logging("info", "text", log=LogSettings(file=log_file, max_size=2048, keep=2))
        logger = logging.getLogger("wattbridge.test.rotation")
        for n in range(200):
            logger.info("line %d of a log that grows past its bound", n)
    finally:
        setup_logging("warning", "text")  # back to standard error, closing the file
    names = sorted(p.name for p in log_file.parent.iterdir())
    assert names == ["wattbridge.log", "wattbridge.log.1", "wattbridge.log.2"]
    assert all(p.stat().st_size <= 2048 for p in log_file.parent.iterdir())
    assert "line 199 of a log" in log_file.read_text()


def test_log_and_http_tables_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        '[wattbridge]\nstate_dir = "state"\n'
        '[wattbridge.log]\nfile = "w.log"\nkeep = -1\n'
        '[wattbridge.http]\nlisten = "nowhere"\n'
        '[sources.d]\nplugin = "replay"\n[sinks.o]\nplugin = "jsonl"\n'
        '[[routes]]\nfrom = "d"\nto = "o"\n',
        encoding="utf-8",
    )
    assert main(["check", "-c", str(path)]) == exitcodes.CONFIG
    err = capsys.readouterr().err
    assert "keep" in err and "'nowhere' is not host:port" in err


# -- broken plugins and missing extras ----------------------------------------------

BROKEN_METADATA = "Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n"


@pytest.fixture
def broken_plugin_path(tmp_path: Path) -> Path:
    """A folder that, on PYTHONPATH, holds an installed plugin that fails to import."""
    site = tmp_path / "site"
    dist = site / "broken_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(BROKEN_METADATA, encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[wattbridge]\nbroken = broken_wattbridge_plugin\n", encoding="utf-8"
    )
    (site / "broken_wattbridge_plugin.py").write_text(
        "raise ImportError('libfoo.so.1: cannot open shared object file')\n", encoding="utf-8"
    )
    return site


def run_cli(*args: str, pythonpath: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(pythonpath), **env}
    environment.pop("WATTBRIDGE_DISABLE_PLUGIN_AUTOLOAD", None)
    environment.pop("WATTBRIDGE_DISABLE_PLUGINS", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "wattbridge", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def test_a_broken_plugin_is_shown_and_skipped_and_can_be_disabled(
    broken_plugin_path: Path,
) -> None:
    help_ = run_cli("--help", pythonpath=broken_plugin_path)
    assert help_.returncode == 0 and "COMMAND" in help_.stdout
    assert "plugin 'broken' (broken_wattbridge_plugin) is broken" in help_.stderr
    assert "--disable-plugin broken" in help_.stderr
    listed = run_cli("plugins", "--json", pythonpath=broken_plugin_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    broken = [r for r in rows if r["kind"] == "BROKEN"]
    assert broken == [
        {
            "kind": "BROKEN",
            "type": "broken_wattbridge_plugin",
            "plugin": "broken",
            "version": "ImportError: libfoo.so.1: cannot open shared object file",
        }
    ]
    assert any(r["type"] == "jsonl" for r in rows)  # the others still load
    for disabled in (
        run_cli("--disable-plugin", "broken", "plugins", "--json", pythonpath=broken_plugin_path),
        run_cli(
            "plugins", "--json", pythonpath=broken_plugin_path, WATTBRIDGE_DISABLE_PLUGINS="broken"
        ),
    ):
        assert disabled.returncode == 0 and "broken" not in disabled.stderr
        kinds = {(r["kind"], r["plugin"]) for r in json.loads(disabled.stdout)}
        assert ("disabled", "broken") in kinds and ("BROKEN", "broken") not in kinds


# Makes these top-level modules missing, as on a slim install without the extras.
BLOCK = textwrap.dedent(
    """
    import sys
    class Missing:
        BLOCKED = {"pymodbus", "serial", "websockets", "paho", "prometheus_client", "nats"}
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Missing())
    from wattbridge._cli import main
    sys.exit(main(sys.argv[1:]))
    """
)

MODBUS_CONFIG = """
[sources.meter]
plugin = "modbus"
host = "127.0.0.1"
profile = "eastron-sdm630"
[sinks.out]
plugin = "jsonl"
[[routes]]
from = "meter"
to = "out"
"""


def slim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK, *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_without_the_extras_every_plugin_loads_and_use_names_the_extra(tmp_path: Path) -> None:
    listed = slim("plugins", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    types = {r["type"] for r in json.loads(listed.stdout)}
    assert {"modbus", "homeassistant", "mqtt", "energydata-mqtt", "jsonl"} <= types
    (tmp_path / "wattbridge.toml").write_text(MODBUS_CONFIG, encoding="utf-8")
    assert slim("check", cwd=tmp_path).returncode == 0  # checking needs no pymodbus
    assert slim("modbus", "profiles", cwd=tmp_path).returncode == 0
    run = slim("run", cwd=tmp_path)
    assert run.returncode == exitcodes.FAILURE
    assert "pip install 'wattbridge[modbus]'" in run.stderr, run.stderr
    read = slim(
        "modbus", "read", "--host", "127.0.0.1", "--profile", "eastron-sdm630", cwd=tmp_path
    )
    assert read.returncode != 0 and "wattbridge[modbus]" in read.stderr, read.stderr
    metrics = tmp_path / "metrics.toml"
    metrics.write_text(
        '[wattbridge.http]\nlisten = "127.0.0.1:0"\n[sources.d]\nplugin = "replay"\n'
        '[sinks.o]\nplugin = "jsonl"\n[[routes]]\nfrom = "d"\nto = "o"\n',
        encoding="utf-8",
    )
    served = slim("run", "-c", str(metrics), cwd=tmp_path)
    assert served.returncode == exitcodes.FAILURE
    assert "pip install 'wattbridge[metrics]'" in served.stderr, served.stderr
