"""`wattbridge check` refuses a route whose timestamps the energinet sink cannot write
(a Modbus meter polled every 10s, unresampled, to a sink writing whole minutes), names
both and the fix, and accepts the same route resampled to whole minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattbridge import exitcodes
from wattbridge._cli import main


def _write(tmp_path: Path, *, source: str, route: str = "", sink: str = "") -> Path:
    path = tmp_path / "wattbridge.toml"
    path.write_text(
        f"""
[sources.house]
plugin = "modbus"
host = "192.168.1.50"
profile = "eastron-sdm630"
{source}

[sinks.energinet]
plugin = "energinet"
{sink}
[sinks.energinet.senders.main]
token = "not-a-real-token"
meters = {{ "import_kwh" = "7777777777" }}

[[routes]]
from = "house"
to = "energinet"
{route}
"""
    )
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ('interval = "10s"', "timestamps on a 10s grid"),
        ('interval = "1m"\ntimestamp = "measured"', "timestamps on a 1ms grid"),
        ('interval = "90s"', "timestamps on a 1m30s grid"),
    ],
)
def test_check_refuses_timestamps_the_sink_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, why: str
) -> None:
    path = _write(tmp_path, source=source)
    assert main(["check", "-c", str(path)]) == exitcodes.CONFIG
    err = capsys.readouterr().err
    line = path.read_text().splitlines().index('to = "energinet"') + 1
    assert f"{path}:{line}: [[routes]] #1 to: source 'house' ({why})" in err
    assert "sink 'energinet' (plugin 'energinet') cannot write: it writes whole 1m only" in err
    assert "every reading would be dead-lettered" in err
    assert "add [routes.resample] with every = " in err


def test_the_fix_it_names_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, source='interval = "10s"')
    main(["check", "-c", str(path)])
    suggested = capsys.readouterr().err.split('every = "')[1].split('"')[0]
    assert suggested == "1m"
    fixed = _write(
        tmp_path,
        source='interval = "10s"',
        route=f'[routes.resample]\nevery = "{suggested}"\nhow = "last"\nzone = "Europe/Copenhagen"',
    )
    assert main(["check", "-c", str(fixed)]) == exitcodes.OK


@pytest.mark.parametrize(
    ("source", "route", "sink"),
    [
        ('interval = "15m"', "", ""),  # polled at :00, :15 ...: whole minutes already
        ('interval = "10s"', "", 'time_format = "seconds"'),
        ('interval = "10s"', '[routes.resample]\nevery = "15m"\nhow = "mean"', ""),
    ],
)
def test_routes_the_sink_can_write_pass(tmp_path: Path, source: str, route: str, sink: str) -> None:
    path = _write(tmp_path, source=source, route=route, sink=sink)
    assert main(["check", "-c", str(path)]) == exitcodes.OK


def test_a_resample_window_the_sink_cannot_write_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, source='interval = "10s"', route='[routes.resample]\nevery = "30s"')
    assert main(["check", "-c", str(path)]) == exitcodes.CONFIG
    err = capsys.readouterr().err
    assert "resample: source 'house' (resampled to windows of 30s)" in err
    assert 'every = "1m"' in err


def test_the_example_passes_check_and_fails_without_its_resampling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = Path(__file__).parents[4] / "examples" / "modbus-to-energinet.toml"
    monkeypatch.setenv("ENERGINET_TOKEN", "not-a-real-token")
    assert main(["check", "-c", str(example)]) == exitcodes.OK
    unresampled = tmp_path / "unresampled.toml"
    text = example.read_text()
    table = '[routes.resample]\nevery = "15m"\nhow = "mean"\nzone = "Europe/Copenhagen"\n'
    assert table in text
    unresampled.write_text(text.replace(table, ""))
    assert main(["check", "-c", str(unresampled)]) == exitcodes.CONFIG
    assert "[[routes]] #2 to: source 'house' (timestamps on a 10s grid)" in capsys.readouterr().err
