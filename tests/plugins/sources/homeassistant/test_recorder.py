"""The ``homeassistant`` source and ``wattbridge homeassistant backfill`` against a real
Home Assistant with its recorder and history API (see conftest.py for how HA starts).

Nothing changed during a gap is lost: the connection is cut for 30 s (a TCP forwarder
of the test's own between the source and HA closes every connection and refuses new
ones) while an entity changes 30 times, and every change arrives after the reconnect,
read from HA's recorder; the same for a 30 s stop of wattbridge itself. A week of
hourly long-term statistics, imported into HA's recorder as an energy meter's history
would be, backfills to the routed sink.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wattbridge.commands import main
from wattbridge.testing import free_port, jsonl_records, wait_until


def test_thirty_changes_during_a_30s_stop_of_wattbridge_all_arrive(
    home_assistant: Any,
    wattbridge_runtime: Callable[..., Any],
    source_config: Callable[..., str],
    tmp_path: Path,
) -> None:
    ha = home_assistant
    out = tmp_path / "out.jsonl"
    text = source_config(ha, out, "sensor.gap_*")
    runtime = wattbridge_runtime(text)
    source = runtime.sources["ha"].plugin
    wait_until(source.connected.is_set, message="subscribed", timeout=30)
    ha.set_state("sensor.gap_energy", "0", unit_of_measurement="kWh", device_class="energy")
    wait_until(lambda: [r["value"] for r in jsonl_records(out)] == [0], message="the first value")
    runtime.stop()

    # The cut: 30 changes, one a second, while no wattbridge runs.
    cut_started = time.monotonic()
    for n in range(1, 31):
        ha.set_state("sensor.gap_energy", str(n), unit_of_measurement="kWh", device_class="energy")
        time.sleep(max(0.0, cut_started + n - time.monotonic()))
    assert time.monotonic() - cut_started >= 30

    restarted = wattbridge_runtime(text)
    source = restarted.sources["ha"].plugin
    wait_until(lambda: source.gap_readings == 30, message="the gap read", timeout=60)
    ha.set_state("sensor.gap_energy", "31", unit_of_measurement="kWh", device_class="energy")
    wait_until(
        lambda: 31 in [r["value"] for r in jsonl_records(out)],
        message="the value after",
        timeout=60,
    )
    assert [r["value"] for r in jsonl_records(out)] == list(range(32))


class CutProxy:
    """A TCP forwarder in front of HA that can be cut: every connection closed and new
    ones refused, as when the network between wattbridge and HA goes down."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        """Accept connections (again)."""
        server = socket.create_server(("127.0.0.1", self.port))
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def cut(self) -> None:
        """Close the listener and every connection."""
        with self._lock:
            server, self._server = self._server, None
            sockets, self._sockets = self._sockets, []
        if server is not None:
            # shutdown first: on Linux it wakes the thread blocked in accept(), and the
            # listener is gone at once (close alone would leave it accepting).
            try:
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, upstream]
            for one, other in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(one, other), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_thirty_changes_during_a_30s_cut_of_the_connection_all_arrive(
    home_assistant: Any,
    wattbridge_runtime: Callable[..., Any],
    source_config: Callable[..., str],
    tmp_path: Path,
) -> None:
    """Without the history read only the last of them would arrive (get_states)."""
    ha = home_assistant
    proxy = CutProxy(ha.port)
    proxy.open()
    out = tmp_path / "out.jsonl"
    behind_proxy = source_config(ha, out, "sensor.cut_*").replace(
        f"127.0.0.1:{ha.port}", f"127.0.0.1:{proxy.port}"
    )
    runtime = wattbridge_runtime(behind_proxy)
    source = runtime.sources["ha"].plugin
    try:
        wait_until(source.connected.is_set, message="subscribed", timeout=30)
        ha.set_state("sensor.cut_energy", "0", unit_of_measurement="kWh")
        wait_until(
            lambda: [r["value"] for r in jsonl_records(out)] == [0], message="the first value"
        )

        proxy.cut()
        wait_until(lambda: not source.connected.is_set(), message="the source to notice")
        cut_started = time.monotonic()
        for n in range(1, 31):
            ha.set_state("sensor.cut_energy", str(n), unit_of_measurement="kWh")
            time.sleep(max(0.0, cut_started + n - time.monotonic()))
        assert source.connections == 1  # it stayed cut off the whole time
        proxy.open()
        wait_until(lambda: source.connections >= 2 and source.connected.is_set(), timeout=60)
        wait_until(lambda: len(jsonl_records(out)) >= 31, message="every change", timeout=60)
    finally:
        proxy.cut()
    assert [r["value"] for r in jsonl_records(out)] == list(range(31))
    assert source.gap_readings == 30  # from the recorder; get_states' 30 was a repeat


def test_a_week_of_hourly_statistics_backfills(
    home_assistant: Any,
    wattbridge_runtime: Callable[..., Any],
    source_config: Callable[..., str],
    tmp_path: Path,
) -> None:
    ha = home_assistant
    entity = "sensor.week_energy"
    ha.set_state(entity, "1168", unit_of_measurement="kWh", device_class="energy")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    starts = [hour - timedelta(hours=169 - k) for k in range(168)]
    client = ha.websocket()
    try:
        client.call(
            {
                "type": "recorder/import_statistics",
                "metadata": {
                    "has_mean": False,
                    "has_sum": True,
                    "name": None,
                    "source": "recorder",
                    "statistic_id": entity,
                    "unit_of_measurement": "kWh",
                },
                "stats": [
                    {"start": start.isoformat(), "state": 1000.0 + k, "sum": float(k)}
                    for k, start in enumerate(starts)
                ],
            },
            30,
        )

        def imported() -> int:
            rows = client.call(
                {
                    "type": "recorder/statistics_during_period",
                    "start_time": starts[0].isoformat(),
                    "statistic_ids": [entity],
                    "period": "hour",
                    "types": ["state"],
                },
                30,
            )
            return len(rows.get(entity, []))

        wait_until(lambda: imported() == 168, message="HA to store the statistics", timeout=60)
    finally:
        client.close()

    out = tmp_path / "out.jsonl"
    text = source_config(ha, out, "sensor.week_*")
    (tmp_path / "wattbridge.toml").write_text(text, encoding="utf-8")
    since = (hour - timedelta(days=8)).isoformat()
    assert (
        main(
            ["homeassistant", "backfill", "-c", str(tmp_path / "wattbridge.toml"), "--since", since]
        )
        == 0
    )

    wattbridge_runtime(text)  # sends what the backfill queued
    expected = {
        (start + timedelta(hours=1)).isoformat(): 1000.0 + k for k, start in enumerate(starts)
    }

    def hourly() -> dict[str, float]:
        return {
            r["timestamp"]: r["value"] for r in jsonl_records(out) if r["timestamp"] in expected
        }

    wait_until(lambda: len(hourly()) == 168, message="168 hourly readings", timeout=60)
    assert hourly() == expected
    assert all(r["stream"] == entity and r["unit"] == "kWh" for r in jsonl_records(out))
