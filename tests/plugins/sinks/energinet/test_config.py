"""The config: `wattbridge check` accepts the sample and refuses what breaks a platform rule."""

from __future__ import annotations

from pathlib import Path

import pytest

import wattbridge_plugins.sinks.energinet as plugin
from wattbridge._cli import main

SAMPLE = Path(plugin.__file__).parent / "sample.toml"


def check(path, capsys):
    code = main(["check", "-c", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def config(tmp_path, senders, **keys):
    lines = ["[sinks.e]", 'plugin = "energinet"']
    lines += [f"{key} = {value}" for key, value in keys.items()]
    for name, meters in senders.items():
        lines += [f"[sinks.e.senders.{name}]", 'token = "tok-' + name + '"']
        lines += ["meters = {" + ", ".join(f'"{s}" = "{m}"' for s, m in meters.items()) + "}"]
    path = tmp_path / "c.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def test_the_sample_config_is_accepted(monkeypatch, capsys):
    monkeypatch.setenv("ENERGINET_TOKEN_MAIN", "sample-token-main")
    monkeypatch.setenv("ENERGINET_TOKEN_HEATING", "sample-token-heating")
    code, output = check(SAMPLE, capsys)
    assert code == 0, output
    assert "1 sink(s)" in output


def test_fifty_senders_pass_and_fifty_one_are_refused(tmp_path, capsys):
    fifty = {f"p{n}": {f"s{n}": f"M{n}"} for n in range(50)}
    assert check(config(tmp_path, fifty), capsys)[0] == 0
    code, output = check(config(tmp_path, {**fifty, "p50": {"s50": "M50"}}), capsys)
    assert code == 3
    assert "[sinks.e] senders: senders has 51 profiles" in output
    assert "at most 50 sender profiles per import" in output


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"request_interval": '"9m"'}, "request_interval must be at least 10m"),
        (
            {"url": '"http://energinet.example/apiImport/data"'},
            "would send the token in clear text: use https",
        ),
        ({"max_payload_bytes": "524288"}, "max_payload_bytes must be between 1000 and 500000"),
        ({"timezone": '"Mars/Olympus"'}, "not a known IANA zone"),
        ({"time_format": '"hours"'}, "is not one of"),
    ],
)
def test_rule_breaking_keys_are_refused(tmp_path, capsys, keys, message):
    code, output = check(config(tmp_path, {"a": {"s": "M"}}, **keys), capsys)
    assert code == 3 and message in output, output


def test_a_short_interval_only_towards_loopback(tmp_path, capsys):
    path = config(
        tmp_path,
        {"a": {"s": "M"}},
        url='"http://127.0.0.1:8080/apiImport/data"',
        request_interval='"2s"',
    )
    assert check(path, capsys)[0] == 0


def test_a_stream_belongs_to_one_sender(tmp_path, capsys):
    code, output = check(config(tmp_path, {"a": {"s": "M1"}, "b": {"s": "M2"}}), capsys)
    assert code == 3 and "stream 's' is mapped by both 'a' and 'b'" in output
