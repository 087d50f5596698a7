"""``wattbridge run`` killed with SIGKILL mid-stream, then restarted: every reading
reaches the subscriber. Delivery is at-least-once, so some arrive twice (allowed: the
platform keeps one value per datastream and timestamp). Also ``wattbridge subscribe``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wattbridge.testing import Mosquitto, TlsFiles, wait_until
from wattbridge_plugins.common.mqtt_subscriber import Subscriber
from wattbridge_plugins.sinks.energydata.mqtt.payload import epoch_ms

COUNT = 6000
START = datetime(2026, 1, 1, tzinfo=UTC)

CONFIG = """
[wattbridge]
state_dir = "state"

[sources.gen]
plugin = "replay"
streams = ["p", "e"]
count = {count}
rate = 2500
chunk = 100
start = "2026-01-01T00:00:00+00:00"

[sinks.edk]
plugin = "energydata-mqtt"
host = "127.0.0.1"
port = {port}
ca_file = "{ca}"
token = {{ env = "EDK_TOKEN" }}
prefix = "{prefix}"
datastreams = ["meter/p", "meter/e"]
flush_interval = "50ms"
retry_initial = "100ms"
retry_max = "1s"
batch = 300
window = 50

[[routes]]
from = "gen"
to = "edk"
streams = {{ "p" = "meter/p", "e" = "meter/e" }}
"""


def write_config(tmp_path: Path, sandbox: Any, prefix: str, ca: Path | None = None) -> Path:
    """The config a user writes for the sandbox's MQTT door (``ca``: another CA)."""
    path = tmp_path / "run.toml"
    ca_file = ca if ca is not None else sandbox.ca_file
    path.write_text(
        CONFIG.format(count=COUNT, port=sandbox.port, ca=ca_file, prefix=prefix),
        encoding="utf-8",
    )
    return path


def environment(edk: Any) -> dict[str, str]:
    return {**os.environ, "EDK_TOKEN": edk.token}


def wattbridge(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "wattbridge", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_loses_nothing(
    tmp_path: Path, sandbox: Any, subscriber: Subscriber, edk: Any
) -> None:
    config = write_config(tmp_path, sandbox, edk.prefix)
    env = environment(edk)
    expected = {
        (("meter/p", "meter/e")[n % 2], epoch_ms(START + timedelta(seconds=n)))
        for n in range(COUNT)
    }

    def received() -> list[tuple[str, int]]:
        return [(suffix, ms) for suffix, ms, _ in subscriber.values(edk.prefix)]

    first = wattbridge("run", "-c", str(config), env=env, cwd=tmp_path)
    try:
        wait_until(lambda: len(received()) >= COUNT // 4, timeout=60, message="a quarter")
    finally:
        first.send_signal(signal.SIGKILL)
        output = first.communicate()[0].decode(errors="replace")
    before = set(received())
    assert len(before) < COUNT, "killed too late to test anything"

    second = wattbridge("run", "-c", str(config), env=env, cwd=tmp_path)
    try:
        wait_until(
            lambda: expected <= set(received()),
            timeout=120,
            message=f"all {COUNT} readings (have {len(set(received()))})",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        output += second.communicate(timeout=30)[0].decode(errors="replace")
    got = received()
    assert set(got) == expected, output[-3000:]
    duplicates = len(got) - len(set(got))
    print(f"{COUNT} readings, {duplicates} delivered twice after the SIGKILL")
    assert edk.token not in output


def test_subscribe_prints_what_arrives(tmp_path: Path, sandbox: Any, edk: Any) -> None:
    config = write_config(tmp_path, sandbox, edk.prefix)
    env = environment(edk)
    env["EDK_TOKEN"] = edk.reader  # subscribe with the token that may only read
    sub = wattbridge(
        "subscribe", "-c", str(config), "--sink", "edk", "--count", "2", env=env, cwd=tmp_path
    )
    try:
        # Publish once the subscriber is in (it says so on stderr, merged here).
        lines: list[str] = []
        assert sub.stdout is not None
        deadline = time.monotonic() + 15
        while len([x for x in lines if x.startswith("Subscribed")]) < 2:
            assert time.monotonic() < deadline, lines
            lines.append(sub.stdout.readline().decode())
        publisher = Subscriber(
            sandbox.port, edk.token, topic="unused/nothing", ca_file=sandbox.ca_file
        )
        publisher.client.publish(f"{edk.prefix}/meter/p", b'{"timestamp": 1, "value": 2.5}', qos=1)
        publisher.client.publish(f"{edk.prefix}/meter/e", b'{"timestamp": 1, "value": 7}', qos=1)
        out = sub.communicate(timeout=15)[0].decode()
        publisher.close()
    finally:
        if sub.poll() is None:
            sub.kill()
    assert sub.returncode == 0, out
    assert f'Received `{{"timestamp": 1, "value": 2.5}}` from `{edk.prefix}/meter/p`' in out
    assert f"from `{edk.prefix}/meter/e`" in out


def test_subscribe_with_a_wrong_ca_fails(
    tmp_path: Path, sandbox: Any, other_ca: TlsFiles, edk: Any
) -> None:
    config = write_config(tmp_path, sandbox, edk.prefix, other_ca.ca)
    proc = wattbridge("subscribe", "-c", str(config), "--sink", "edk", "--seconds", "5",
                      env=environment(edk), cwd=tmp_path)  # fmt: skip
    out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 1
    assert "certificate verify failed" in out
    assert edk.token not in out


def test_sample_config_is_accepted(edk: Any) -> None:
    import wattbridge_plugins.sinks.energydata.mqtt as plugin

    sample = Path(plugin.__file__).parent / "sample.toml"
    env = {**environment(edk), "EDK_TOKEN": "sample-token"}
    result = subprocess.run(
        [sys.executable, "-m", "wattbridge", "check", "-c", str(sample)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert ": ok (" in result.stdout


def test_subscribe_with_host_topic_and_token_env(tmp_path: Path, sandbox: Any, edk: Any) -> None:
    env = {**os.environ, "READER_TOKEN": edk.reader}
    args = ["subscribe", "--host", "127.0.0.1", "--port", str(sandbox.port),
            "--ca-file", str(sandbox.ca_file), "--topic", f"{edk.prefix}/#", "--count", "1",
            "--token-env", "READER_TOKEN"]  # fmt: skip
    sub = wattbridge(*args, env=env, cwd=tmp_path)
    try:
        assert sub.stdout is not None
        line = sub.stdout.readline().decode()
        while not line.startswith("Subscribed"):
            assert line, "subscribe ended early"
            line = sub.stdout.readline().decode()
        publisher = Subscriber(
            sandbox.port, edk.token, topic="unused/nothing", ca_file=sandbox.ca_file
        )
        publisher.client.publish(
            f"{edk.prefix}/meter/state", b'{"timestamp": 5, "value": "on"}', qos=1
        )
        out = sub.communicate(timeout=15)[0].decode()
        publisher.close()
    finally:
        if sub.poll() is None:
            sub.kill()
    assert sub.returncode == 0, out
    assert f'Received `{{"timestamp": 5, "value": "on"}}` from `{edk.prefix}/meter/state`' in out


def test_missing_mosquitto_is_a_failure_with_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither mosquitto nor mosquitto_passwd
    with pytest.raises(RuntimeError, match="apt-get install mosquitto"):
        Mosquitto(tmp_path / "broker")
