"""Benchmark: the energydata-mqtt sink end to end, against a bare paho loop.

    python bench/energydata_mqtt_throughput.py [--readings 50000] [--window 100] [--tls]
                                               [--streams 3]

Starts a private Mosquitto (password file and ACL as the platform's; plain TCP unless
--tls) and, in this one process, for single-value and multi-value mode:

- baseline: a bare paho client publishing the very messages the sink would send, QoS 1,
  keeping at most ``window`` unacknowledged, and waiting only at the end for the rest.
- wattbridge: the readings already queued in a real outbox; the core's SinkWorker takes
  batches, the sink publishes with the same window and waits for the PUBACKs, and the
  readings are acknowledged (deleted) in the outbox. Timed until the outbox is empty.

Readings per second are printed side by side, with wattbridge's share of the baseline,
and wattbridge's multi-value rate over its single-value rate (issue 17's targets: single
value at least 0.8x the bare loop, multi-value at least 5x single-value). A multi-value
message holds one timestamp's values, so its gain is bounded by ``--streams``, the
datastreams a meter reads at once (3 by default: import, export, power).
Each side runs ``--rounds`` times; the best round counts (the machine is shared).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wattbridge import Batch, Reading, Secret
from wattbridge._delivery import SinkWorker
from wattbridge._outbox import Outbox, OutboxState
from wattbridge._sinks import SinkContext
from wattbridge.testing import Mosquitto, TlsFiles, make_certificates
from wattbridge_plugins.common import mqtt_client
from wattbridge_plugins.sinks.energydata.mqtt.config import EnergyDataMqttConfig
from wattbridge_plugins.sinks.energydata.mqtt.sink import EnergyDataMqttSink, plan_batch

TOKEN, PASSWORD, PREFIX = "bench-token-1a2b", "bench-password-3c4d", "bench"
STREAMS = ["meter/import", "meter/export", "meter/power"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def stream_names(count: int) -> list[str]:
    """``count`` datastreams: the three of STREAMS, then more registers of the meter."""
    return (STREAMS + [f"meter/register{n}" for n in range(count)])[:count]


def readings(total: int, streams: list[str] = STREAMS) -> list[Reading]:
    """Readings of ``streams``, each timestamp shared by all of them (as a meter reads
    them)."""
    width = len(streams)
    return [
        Reading(streams[i % width], T0 + timedelta(seconds=i // width), i * 0.5, "kWh")
        for i in range(total)
    ]


def config(
    broker: Mosquitto, tls: TlsFiles | None, window: int, multi: bool, streams: list[str] = STREAMS
) -> EnergyDataMqttConfig:
    return EnergyDataMqttConfig(
        token=Secret(TOKEN),
        password=Secret(PASSWORD),
        prefix=PREFIX,
        datastreams=streams,
        host="127.0.0.1",
        port=(broker.tls_port or 0) if tls else broker.port,
        tls=tls is not None,
        ca_file=tls.ca if tls else None,
        multi_value=multi,
        window=window,
    )


def baseline(cfg: EnergyDataMqttConfig, items: list[Reading]) -> float:
    """Seconds for a bare paho client to publish the sink's messages with the window."""
    messages = plan_batch(cfg, Batch(items, list(range(len(items))))).messages
    cond = threading.Condition()
    acked = 0

    def on_publish(_mid: int) -> None:
        nonlocal acked
        with cond:
            acked += 1
            cond.notify()

    connected = threading.Event()
    client = mqtt_client.make_client(
        "bench-baseline", on_publish=on_publish, on_connect=lambda r: connected.set()
    )
    client.username_pw_set(TOKEN, PASSWORD)
    if cfg.tls:
        mqtt_client.set_tls(client, cfg.ssl_context())
    client.max_inflight_messages_set(cfg.window)
    client.max_queued_messages_set(0)
    client.connect(cfg.host, cfg.port, 30)
    client.loop_start()
    connected.wait(10)
    window = cfg.window
    started = time.perf_counter()
    for sent, message in enumerate(messages):
        if sent - acked >= window:
            with cond:
                cond.wait_for(lambda s=sent: s - acked < window, 30)
        client.publish(message.topic, message.payload, qos=1)
    with cond:
        cond.wait_for(lambda: acked >= len(messages), 60)
    elapsed = time.perf_counter() - started
    assert acked == len(messages), (acked, len(messages))
    client.disconnect()
    client.loop_stop()
    return elapsed


def wattbridge(cfg: EnergyDataMqttConfig, items: list[Reading], folder: Path) -> float:
    """Seconds from a full outbox to an empty one through the core and the sink."""
    path = folder / f"outbox-{time.monotonic_ns()}.sqlite"
    outbox = Outbox(path)
    for start in range(0, len(items), 5000):
        outbox.put(items[start : start + 5000])
    logger = logging.getLogger("bench")
    sink = EnergyDataMqttSink(cfg, SinkContext("bench", folder, logger, OutboxState(outbox)))
    worker = SinkWorker("bench", sink, outbox, logger=logger)
    started = time.perf_counter()
    while outbox.depth:
        worker.flush()
    elapsed = time.perf_counter() - started
    status = outbox.status()
    assert status.dead_letters == 0 and status.sent_total >= len(items), status
    sink.close()
    outbox.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tls", action="store_true", help="through the TLS listener")
    parser.add_argument("--streams", type=int, default=3, help="datastreams a meter reads at once")
    args = parser.parse_args()
    streams = stream_names(args.streams)
    items = readings(args.readings, streams)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tls = make_certificates(folder / "ca") if args.tls else None
        broker = Mosquitto(
            folder / "mosquitto",
            users={TOKEN: PASSWORD},
            acl=[f"user {TOKEN}", f"topic write {PREFIX}/#"],
            tls=tls,
        ).start()
        try:
            print(
                f"{args.readings} readings of {len(streams)} datastreams, window {args.window}, "
                f"{'TLS' if tls else 'plain TCP'}, best of {args.rounds} rounds; "
                "readings/s (outbox -> PUBACK -> acknowledged)"
            )
            print(f"{'mode':<14}{'baseline':>14}{'wattbridge':>14}{'ratio':>9}")
            rates: dict[bool, float] = {}
            for multi in (False, True):
                cfg = config(broker, tls, args.window, multi, streams)
                base = min(baseline(cfg, items) for _ in range(args.rounds))
                ours = min(wattbridge(cfg, items, folder) for _ in range(args.rounds))
                mode = "multi-value" if multi else "single-value"
                rate_base, rate_ours = args.readings / base, args.readings / ours
                print(
                    f"{mode:<14}{rate_base:>14,.0f}{rate_ours:>14,.0f}{rate_ours / rate_base:>8.0%}"
                )
                rates[multi] = rate_ours
            print(f"wattbridge multi-value / single-value: {rates[True] / rates[False]:.1f}x")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
