"""`check` compares a route's timestamps with what its sink can write: a polled source
stamped on its grid gives its interval, a resampled route its windows, and a source or
sink that declares nothing is not checked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from wattbridge import ConfigError, Reading, SinkLimits, hookimpl
from wattbridge._config import parse_config
from wattbridge._plugins import load_plugins


@attrs.frozen
class MinutesConfig:
    """A sink config that promises whole minutes only."""

    time_resolution: timedelta = attrs.field(default=timedelta(minutes=1), init=False)


@attrs.frozen
class NoConfig:
    pass


class Polled:
    def __init__(self, config: object, context: object) -> None:
        pass

    def poll(self) -> list[Reading]:
        return []


class Minutes:
    limits = SinkLimits()

    def __init__(self, config: object, context: object) -> None:
        pass

    def send(self, batch: object) -> object:
        raise NotImplementedError


class Plugin:
    @staticmethod
    @hookimpl
    def wattbridge_register_sources(register):  # type: ignore[no-untyped-def]
        register("polled", Polled, NoConfig)

    @staticmethod
    @hookimpl
    def wattbridge_register_sinks(register):  # type: ignore[no-untyped-def]
        register("minutes", Minutes, MinutesConfig)


def _check(tmp_path: Path, source: str, route: str = "") -> None:
    text = f"""
[sources.meter]
plugin = "polled"
{source}
[sinks.platform]
plugin = "minutes"
[[routes]]
from = "meter"
to = "platform"
{route}
"""
    parse_config(text, tmp_path / "w.toml", load_plugins([Plugin], entry_points=False))


def test_a_polled_source_gives_its_interval(tmp_path: Path) -> None:
    _check(tmp_path, 'interval = "5m"')
    with pytest.raises(ConfigError) as caught:
        _check(tmp_path, 'interval = "20s"')
    assert (
        "[[routes]] #1 to: source 'meter' (polled every 20s on the grid) gives timestamps "
        "that sink 'platform' (plugin 'minutes') cannot write: it writes whole 1m only"
    ) in str(caught.value)


def test_measured_polls_promise_nothing_and_are_not_checked(tmp_path: Path) -> None:
    _check(tmp_path, 'interval = "20s"\ntimestamp = "measured"')


def test_a_resampled_route_gives_its_windows(tmp_path: Path) -> None:
    _check(tmp_path, 'interval = "20s"', '[routes.resample]\nevery = "1h"\nzone = "Asia/Kolkata"')
    with pytest.raises(ConfigError, match=r'resampled to windows of 30s\).*every = "1m"'):
        _check(tmp_path, 'interval = "20s"', '[routes.resample]\nevery = "30s"')
