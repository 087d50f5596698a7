"""The config: the sample and the example are accepted by `wattbridge check`, and each
kind of mistake is reported with its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattbridge._cli import main
from wattbridge._config import ConfigError

PLUGIN = Path(__file__).parents[4] / "plugins" / "wattbridge_plugins" / "sources" / "csv_folder"
EXAMPLE = Path(__file__).parents[4] / "examples" / "watch-folder" / "wattbridge.toml"


def test_wattbridge_check_accepts_the_sample(capsys):
    assert main(["check", "-c", str(PLUGIN / "sample.toml")]) == 0
    assert "ok (1 source(s), 1 sink(s), 1 route(s))" in capsys.readouterr().out


@pytest.mark.parametrize("example", [EXAMPLE, EXAMPLE.parent / "eloverblik" / "wattbridge.toml"])
def test_wattbridge_check_accepts_the_examples(capsys, monkeypatch, example):
    monkeypatch.setenv("EDK_TOKEN", "not-a-real-token")
    assert main(["check", "-c", str(example)]) == 0
    assert "ok (1 source(s), 1 sink(s), 1 route(s))" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ('timezone = "Europe/Kobenhavn"', "timezone", "is not a known time zone"),
        ('delimiter = ";;"', "delimiter", "must be one character"),
        ('timestamp_format = "dd-mm-yyyy"', "timestamp_format", "nor a strptime pattern"),
        ('ambiguous = "first"', "ambiguous", "is not one of 'infer', 'earlier', 'later', 'error'"),
        ('nonexistent = "skip"', "nonexistent", "is not one of 'error', 'shift'"),
        ('on_bad_row = "ignore"', "on_bad_row", "is not one of 'reject', 'skip'"),
        ('settle = "soon"', "settle", "is not a duration"),
        ('finished_after = "0.5s"', "finished_after", "must not be shorter than settle"),
        ("chunk = 0", "chunk", "must be >= 1"),
        ('format = "wide"\ndecimal = ","\ndelimiter = ","', "decimal", '"," needs another'),
        ('decimal = ","', "decimal", "the energydata format's numbers are the platform's"),
        ('delimiter = "\'"\nquotechar = "\'"', "quotechar", "delimiter and quotechar are both"),
        ('scan_interval = "0s"', "scan_interval", "must be positive"),
        ('format = "wide"\ncolumns = { a = 1 }', "columns", "a:"),
        ('inbx = "x"', "inbx", "did you mean 'inbox'"),
        ('done = "in"', "done", "must be another folder than the inbox"),
    ],
)
def test_mistakes_are_reported_with_their_key(wattbridge_config, line, key, message):
    with pytest.raises(ConfigError) as caught:
        wattbridge_config(f'[sources.f]\nplugin = "csv-folder"\ninbox = "in"\n{line}\n')
    text = str(caught.value)
    assert message in text
    if key is not None:
        assert f" {key}:" in text


def test_paths_are_relative_to_the_config_file(wattbridge_config, tmp_path):
    config = wattbridge_config('[sources.f]\nplugin = "csv-folder"\ninbox = "in"\n')
    folder = config.sources["f"].config
    assert folder.inbox == tmp_path / "in"
    assert folder.done_dir == tmp_path / "in" / "done"
    assert folder.failed_dir == tmp_path / "in" / "failed"
    assert folder.duplicates_dir == tmp_path / "in" / "duplicates"
