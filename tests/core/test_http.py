"""``[wattbridge.http]``: /metrics parsed with prometheus-client's own parser, /healthz,
and the Grafana dashboard in examples/ asking only for metrics that are served."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from wattbridge._config import load_config
from wattbridge._http import MetricsServer
from wattbridge._plugins import load_plugins
from wattbridge._runtime import Runtime
from wattbridge._servicesettings import HttpSettings
from wattbridge.testing import wait_until

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "examples" / "grafana" / "wattbridge-dashboard.json"

CONFIG = """
[wattbridge]
state_dir = "state"
[wattbridge.http]
listen = "127.0.0.1:0"
[sources.demo]
plugin = "replay"
count = 50
rate = 500
start = "2026-01-01T00:00:00+00:00"
[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
flush_interval = "50ms"
[[routes]]
from = "demo"
to = "out"
"""


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_and_healthz_of_a_running_config(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(CONFIG, encoding="utf-8")
    registry = load_plugins(entry_points=False)
    config = load_config(path, registry)
    runtime: Any = None
    server = MetricsServer(HttpSettings("127.0.0.1:0"), lambda: runtime)
    server.start()
    try:
        assert get(f"{server.url}/healthz") == (503, "starting or reloading\n")
        runtime = Runtime(config, registry)
        runtime.start()
        wait_until(
            lambda: (
                samples(get(f"{server.url}/metrics")[1]).get(
                    ("wattbridge_sink_sent_total", (("sink", "out"),))
                )
                == 50
            ),
            30,
            message="50 readings sent",
        )
        scraped = samples(get(f"{server.url}/metrics")[1])
        assert scraped[("wattbridge_source_readings_total", (("source", "demo"),))] == 50
        assert scraped[("wattbridge_sink_queue_depth", (("sink", "out"),))] == 0
        assert scraped[("wattbridge_sink_healthy", (("sink", "out"),))] == 1
        assert scraped[("wattbridge_sink_last_success_timestamp_seconds", (("sink", "out"),))] > 0
        assert scraped[("wattbridge_running", ())] == 1
        assert get(f"{server.url}/healthz") == (200, "ok\n")
        assert get(f"{server.url}/other")[0] == 404
        # A dead letter (made in a runtime not started, so no flush races it): unhealthy,
        # with the reason.
        runtime.stop()
        runtime = Runtime(config, registry)
        outbox = runtime.outboxes["out"]
        outbox.put([_reading()])
        batch = outbox.take(1)
        outbox.deadletter({batch.ids[0]: "refused for the test"})
        code, body = get(f"{server.url}/healthz")
        assert code == 503 and "sink out: 1 dead letter(s)" in body
        assert (
            samples(get(f"{server.url}/metrics")[1])[
                ("wattbridge_sink_dead_letters", (("sink", "out"),))
            ]
            == 1
        )
    finally:
        server.stop()
        if runtime is not None:
            runtime.stop()  # (or close, for the one never started: stop does both)


def _reading() -> Any:
    from datetime import UTC, datetime

    from wattbridge import Reading

    return Reading("x", datetime(2026, 1, 1, tzinfo=UTC), 1.0)


def test_the_grafana_dashboard_asks_only_for_served_metrics(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    wanted = {
        name for expr in exprs for name in re.findall(r"\b((?:wattbridge|process)_\w+)", expr)
    }
    assert wanted
    path = tmp_path / "w.toml"
    path.write_text(CONFIG, encoding="utf-8")
    registry = load_plugins(entry_points=False)
    runtime = Runtime(load_config(path, registry), registry)
    server = MetricsServer(HttpSettings("127.0.0.1:0"), lambda: runtime)
    server.start()
    try:
        served = {name for name, _ in samples(get(f"{server.url}/metrics")[1])}
    finally:
        server.stop()
        runtime.close()
    assert not wanted - served, f"the dashboard asks for metrics never served: {wanted - served}"
