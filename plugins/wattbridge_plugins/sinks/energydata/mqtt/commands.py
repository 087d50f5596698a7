"""``wattbridge subscribe``: print what arrives on the platform's topics, live.

Does what the platform's own example subscriber does (connect with the token, subscribe
with QoS 1, print each message with the time it came), with the topics and credentials
taken from a configured ``energydata-mqtt`` sink, or given on the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from wattbridge import exitcodes
from wattbridge.commands import CommandFailed, add_config_argument, read_config
from wattbridge_plugins.common.extras import load
from wattbridge_plugins.common.tls import TlsKeys, tls_from_arguments
from wattbridge_plugins.sinks.energydata.mqtt.config import EnergyDataMqttConfig

if TYPE_CHECKING:
    from wattbridge_plugins.common import mqtt_client

PLUGIN = "energydata-mqtt"


@attrs.frozen
class Target:
    """Where to subscribe and with what."""

    host: str
    port: int
    topics: list[str]
    username: str | None
    password: str | None
    tls: TlsKeys | None
    """How to check the broker; None: plain MQTT."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options."""
    add_config_argument(parser)
    parser.add_argument("--sink", help=f"an {PLUGIN} sink of the config: its topics and token")
    parser.add_argument("--host", help="the broker (instead of --sink)")
    parser.add_argument("--port", type=int, help="default: 8883 with TLS, 1883 without")
    parser.add_argument(
        "--topic", action="append", default=[], help="a topic or filter; repeat for several"
    )
    parser.add_argument("--token-env", help="environment variable holding the token (user name)")
    parser.add_argument("--password-env", help="environment variable holding the password")
    parser.add_argument("--ca-file", type=Path, help="CA certificates to trust")
    parser.add_argument("--no-tls", action="store_true", help="plain MQTT (a local broker only)")
    parser.add_argument("--count", type=int, help="exit after this many messages")
    parser.add_argument("--seconds", type=float, help="exit after this long")


def _env(name: str | None) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    if value is None:
        raise CommandFailed(f"environment variable {name} is not set", exitcodes.CONFIG)
    return value


def target(args: argparse.Namespace) -> Target:
    """The broker, topics and credentials the arguments name."""
    if args.sink:
        config = read_config(args)
        spec = config.sinks.get(args.sink)
        if spec is None:
            raise CommandFailed(
                f"no sink named {args.sink!r} in {config.path}", exitcodes.NOT_FOUND
            )
        if spec.type.name != PLUGIN:
            raise CommandFailed(
                f"sink {args.sink!r} is a {spec.type.name!r} sink, not {PLUGIN!r}", exitcodes.CONFIG
            )
        sink: EnergyDataMqttConfig = spec.config
        topics = args.topic or [sink.topic(s) for s in sink.types()]
        if sink.multi_value and not args.topic:
            topics.append(sink.multi_topic)
        return Target(
            host=args.host or sink.host,
            port=args.port or sink.port,
            topics=topics,
            username=sink.token.reveal(),
            password=sink.password.reveal() if sink.password else None,
            tls=None if args.no_tls or not sink.tls else tls_from_arguments(args, sink),
        )
    if not args.host or not args.topic:
        raise CommandFailed("give --sink NAME, or --host and --topic", exitcodes.USAGE)
    return Target(
        host=args.host,
        port=args.port or (1883 if args.no_tls else 8883),
        topics=args.topic,
        username=_env(args.token_env),
        password=_env(args.password_env),
        tls=None if args.no_tls else tls_from_arguments(args),
    )


def run(args: argparse.Namespace) -> int:
    """Subscribe and print until interrupted (or --count/--seconds)."""
    mqtt = load("wattbridge_plugins.common.mqtt_client", "mqtt")  # paho: the `mqtt` extra
    where = target(args)
    done = threading.Event()
    failed: list[str] = []
    received = 0
    lock = threading.Lock()
    pending: dict[int, str] = {}

    def on_connect(result: mqtt_client.ConnectResult) -> None:
        if not result.ok:
            failed.append(f"{where.host} refused the connection: {result.text}")
            done.set()
            return
        print(f"Connected to {where.host}:{where.port} successfully!", file=sys.stderr, flush=True)
        for topic in where.topics:
            # The SUBACK is handled by this same (network) thread, after this callback.
            _result, mid = client.subscribe(topic, qos=1)
            if mid is not None:
                pending[mid] = topic

    def on_subscribe(mid: int) -> None:
        # Said once the broker acknowledged it: from then on nothing published is missed.
        topic = pending.pop(mid, None)
        if topic is not None:
            print(f"Subscribed to topic: {topic}", file=sys.stderr, flush=True)

    def on_message(message: Any) -> None:
        nonlocal received
        payload = message.payload.decode("utf-8", "replace")
        now = datetime.now(UTC)
        print(f"[{now}] Received `{payload}` from `{message.topic}`", flush=True)
        with lock:
            received += 1
            if args.count is not None and received >= args.count:
                done.set()

    client = mqtt.make_client(
        "",
        clean_session=True,
        reconnect=True,
        on_connect=on_connect,
        on_message=on_message,
        on_subscribe=on_subscribe,
    )
    if where.username is not None:
        client.username_pw_set(where.username, where.password)
    if where.tls is not None:
        mqtt.set_tls(client, where.tls.ssl_context())
    try:
        client.connect(where.host, where.port, 30)
    except OSError as exc:
        raise CommandFailed(
            f"cannot connect to {where.host}:{where.port}: {exc}", exitcodes.FAILURE
        ) from None
    client.loop_start()
    try:
        done.wait(args.seconds)
    finally:
        client.disconnect()
        client.loop_stop()
    if failed:
        raise CommandFailed(failed[0], exitcodes.FAILURE)
    return exitcodes.OK
