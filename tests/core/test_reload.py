"""A reload whose config loads but does not start (a plugin refuses to be built) puts
the previous config back, running, with its queue."""

from __future__ import annotations

from pathlib import Path

from wattbridge._config import Config, load_config
from wattbridge._plugins import load_plugins
from wattbridge._reload import Service

GOOD = """
[wattbridge]
state_dir = "state"
[sources.gen]
plugin = "replay"
rate = 50
start = "2026-01-01T00:00:00+00:00"
[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
[[routes]]
from = "gen"
to = "out"
"""


def test_a_config_that_does_not_start_is_rolled_back(tmp_path: Path) -> None:
    registry = load_plugins(entry_points=False)
    path = tmp_path / "w.toml"
    path.write_text(GOOD, encoding="utf-8")
    good = load_config(path, registry)
    # Valid TOML and keys; the replay source refuses an empty streams list when built.
    path.write_text(GOOD.replace('plugin = "replay"', 'plugin = "replay"\nstreams = []'))

    def load() -> Config:
        return load_config(path, registry)

    service = Service(good, registry, load)
    service._start(good)
    try:
        first = service.runtime
        assert first is not None
        assert service.reload() is False
        assert service.reloads == 0
        again = service.runtime
        assert again is not None and again is not first  # started anew ...
        assert again.config is good  # ... with the previous config
        assert set(again.sources) == {"gen"} and set(again.sinks) == {"out"}
        # And a good one afterwards takes effect.
        path.write_text(GOOD.replace("rate = 50", "rate = 10"), encoding="utf-8")
        assert service.reload() is True and service.reloads == 1
        assert service.runtime is not None and service.runtime.config is not good
    finally:
        service._stop_runtime()
