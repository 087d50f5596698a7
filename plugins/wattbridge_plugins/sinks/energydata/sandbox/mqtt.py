"""The EnergyData.dk sandbox's MQTT door: ``wattbridge sandbox energydata-mqtt``.

A real broker, Mosquitto, behind a front that enforces what the platform's MQTT text
says its broker does. Why both: Mosquitto does what a broker must and is hard to get
right (sessions, QoS 1 and 2 to subscribers, retained messages, fan-out), and it is
the broker the tests already run. But on MQTT 3.1.1 it cannot do what the platform's
broker does: it has no per-client incoming queue with a limit, it acknowledges a QoS 1
PUBLISH before (not after) its authorization is known to the client, and an ACL denial
drops the message silently instead of disconnecting the client. The front does those:

- TLS only (the platform: port 8883), with a CA of its own (``ca_file``, printed);
- MQTT 3.1.1 only (CONNACK 1 otherwise); the user name is a token the sandbox knows
  (CONNACK 5 otherwise), and a password, which the text never mentions, is ignored;
- every packet a client sends goes through its own FIFO queue; at most 1000 PUBLISH
  packets wait there, and one that arrives when 1000 wait is dropped, unanswered;
- the queue is worked through one packet at a time; a PUBLISH is authorized then
  (:func:`mqttrules.judge`): refused, the client is disconnected at once and its queue
  discarded; allowed, its values are stored (the store the HTTP door reads: one
  platform, two doors) and it goes on to Mosquitto, whose PUBACK is relayed, so the
  client's PUBACK comes after authorization;
- what Mosquitto sends a subscriber passes only if the subscriber's token may read it.

Mosquitto listens on a Unix socket only, so nothing reaches it but through the front.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import attrs

from wattbridge.commands import make_certificates, mosquitto_binary, stop_process
from wattbridge_plugins.common.sandbox import server_context
from wattbridge_plugins.sinks.energydata.sandbox import mqttrules
from wattbridge_plugins.sinks.energydata.sandbox.mqttwire import (
    Kind,
    Packet,
    ProtocolError,
    Refused,
    connack,
    parse_connect,
    parse_publish,
    puback,
    read_packet,
)
from wattbridge_plugins.sinks.energydata.sandbox.store import Datastream, Store, TokenInfo

log = logging.getLogger("wattbridge.sandbox.energydata-mqtt")

QUEUE_LIMIT = 1000  # "This queue is per-client, and can contain up to 1000 messages."
CERTIFICATE_DAYS = 825
_EOF = Packet(0, b"")  # queued after a client's last packet


@attrs.frozen
class Event:
    """Something the front did to a client, for tests and the log: ``kind`` is
    ``"disconnected"``, ``"dropped"`` (queue full) or ``"not stored"``."""

    kind: str
    client_id: str
    topic: str
    reason: str


def store_path(state_dir: Path) -> Path:
    """The store both doors share: the HTTP sandbox's, beside this sandbox's folder."""
    return state_dir.parent / "energydata" / "energydata.sqlite"


class _Mosquitto:
    """The broker behind the front, on a Unix socket in a short temporary folder (a
    socket's path is limited to about 100 bytes; a test's folder may be longer)."""

    def __init__(self, state_dir: Path) -> None:
        self.binary = mosquitto_binary()
        self.state_dir = state_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.socket_dir = Path(tempfile.mkdtemp(prefix="wattbridge-mqtt-"))
        self.socket = self.socket_dir / "broker.sock"
        self.log_file = state_dir / "mosquitto.log"
        conf = state_dir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"user {getpass.getuser()}",
                    "allow_anonymous true",  # the front has checked the token
                    "persistence true",  # subscribers' sessions survive a restart
                    f"persistence_location {state_dir}/",
                    "max_queued_messages 0",  # the text sets no limit for subscribers
                    "connection_messages false",  # they would name the token
                    f"log_dest file {self.log_file}",
                    "log_type error",
                    "log_type warning",
                    f"listener 0 {self.socket}",
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        self.conf = conf

    def start(self, timeout: float = 10.0) -> None:
        self.socket_dir.mkdir(exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                problem = self.diagnostics()
                self.stop()
                raise RuntimeError(f"mosquitto did not start: {problem}")
            time.sleep(0.02)

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(self.socket))
                return True
            except OSError:
                return False

    def stop(self) -> None:
        stop_process(self.process)  # SIGTERM: it saves its sessions
        self.process = None
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def diagnostics(self) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        if self.process is not None and self.process.poll() is not None and self.process.stderr:
            text += self.process.stderr.read().decode(errors="replace")
        return text[-2000:]


class _Client:
    """One client's connection through the front, and its incoming queue."""

    def __init__(self, front: MqttSandbox, info: TokenInfo, client_id: str) -> None:
        self.front = front
        self.info = info
        self.client_id = client_id
        self.queue: deque[Packet] = deque()
        self.publishes = 0  # PUBLISH packets in the queue
        self.ready = asyncio.Event()

    def enqueue(self, packet: Packet) -> None:
        if packet.kind == Kind.PUBLISH:
            if self.publishes >= self.front.queue_limit:
                topic = _topic_or_blank(packet)
                self.front.record("dropped", self.client_id, topic, "the incoming queue is full")
                return
            self.publishes += 1
        self.queue.append(packet)
        self.ready.set()

    async def next(self) -> Packet:
        while True:
            await self.front.running.wait()  # a test may hold the queue
            if self.queue:
                packet = self.queue.popleft()
                if packet.kind == Kind.PUBLISH:
                    self.publishes -= 1
                return packet
            self.ready.clear()
            await self.ready.wait()


def _topic_or_blank(packet: Packet) -> str:
    try:
        return parse_publish(packet).topic
    except ProtocolError:
        return ""


class MqttSandbox:
    """A running MQTT door: ``url`` (``mqtts://host:port``), ``host``, ``port``,
    ``ca_file`` (the CA a client must trust), ``tokens``, ``stop()``; for tests,
    ``start()`` after ``stop()`` (the same port again, subscribers' sessions kept),
    ``hold()``/``release()`` (stop and restart working through the queues), ``events``
    and ``stored()``."""

    def __init__(
        self, host: str, port: int, state_dir: Path, queue_limit: int = QUEUE_LIMIT
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._broker = _Mosquitto(state_dir)  # first: a missing mosquitto says so at once
        self.state_dir = state_dir
        self.host = host
        self.port = port
        self.queue_limit = queue_limit
        self._store_file = store_path(state_dir)
        self._store_file.parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(self._store_file)
        tls = state_dir / "tls"
        if not (tls / "ca-server.key").exists():
            make_certificates(tls, "ca", days=CERTIFICATE_DAYS)
        self.ca_file = (tls / "ca.crt").resolve()
        self._context = server_context(tls / "ca-server.crt", tls / "ca-server.key")
        self.events: list[Event] = []
        self.connections = 0
        """How many connections clients opened (for tests: a halted sink opens none)."""
        self._events_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.running = asyncio.Event()
        self.start()

    # -- what a user and a test see ----------------------------------------------

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"mqtts://{self.host}:{self.port}"

    @property
    def tokens(self) -> dict[str, str]:
        """Label -> token the sandbox accepts (the same as the HTTP door's)."""
        return self.store.tokens()

    def stored(self) -> dict[tuple[int, int], Any]:
        """Every stored value by (datastream id, epoch ms), whichever door it came by."""
        return self.store.all_values()

    def record(self, kind: str, client_id: str, topic: str, reason: str) -> None:
        """Note what the front did (and log it; never a token)."""
        with self._events_lock:
            self.events.append(Event(kind, client_id, topic, reason))
        log.info("%s: client %r, topic %r: %s", kind, client_id, topic, reason)

    def events_of(self, kind: str) -> list[Event]:
        """The events of one kind so far."""
        with self._events_lock:
            return [e for e in self.events if e.kind == kind]

    def hold(self) -> None:
        """Stop working through the clients' queues (they fill up)."""
        self._call(self.running.clear)

    def release(self) -> None:
        """Work through the queues again."""
        self._call(self.running.set)

    # -- starting and stopping -----------------------------------------------------

    def start(self) -> None:
        """Start Mosquitto and the front (on ``port``; 0 the first time: a free one)."""
        if self.store.closed:
            self.store = Store(self._store_file)
        self._broker.start()
        self._loop = asyncio.new_event_loop()
        self.running = asyncio.Event()
        self.running.set()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="energydata-mqtt", daemon=True
        )
        self._thread.start()
        try:
            self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        except BaseException:
            self.stop()
            raise
        self.port = self._server.sockets[0].getsockname()[1]

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(
            self._accept, self.host, self.port, ssl=self._context, reuse_address=True
        )

    def stop(self) -> None:
        """Close every connection, stop the front and Mosquitto (sessions are kept)."""
        if self._loop is not None and self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        if self._loop is not None and not self._loop.is_running():
            self._loop.close()
        self._loop = self._thread = self._server = None
        self._broker.stop()
        self.store.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def _call(self, function: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(function)

    # -- one connection ------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ProtocolError, TimeoutError) as exc:
            log.debug("connection ended: %s", exc)
        except asyncio.CancelledError:
            pass  # the sandbox is stopping
        finally:
            self._connections.discard(task)
            # No waiting for a TLS goodbye: a client that vanished would hold the stop.
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await asyncio.wait_for(read_packet(reader), 30)
        if first is None:
            return
        connect = parse_connect(first)
        if connect.protocol != "MQTT" or connect.level != 4:
            # "The API is built on top of the MQTT protocol, version 3.1.1."
            writer.write(connack(Refused.UNACCEPTABLE_PROTOCOL))
            await writer.drain()
            return
        info = self.store.token_info(connect.username) if connect.username else None
        if info is None:
            writer.write(connack(Refused.NOT_AUTHORIZED))
            await writer.drain()
            return
        up_reader, up_writer = await asyncio.open_unix_connection(str(self._broker.socket))
        client = _Client(self, info, connect.client_id)
        up_writer.write(first.encode())
        tasks = [
            asyncio.create_task(self._from_client(reader, client)),
            asyncio.create_task(self._to_broker(client, writer, up_writer)),
            asyncio.create_task(self._to_client(up_reader, up_writer, writer, info)),
        ]
        try:
            # The queue worker ends the connection (a refusal, or after the client's
            # last packet: its reader queues an end even when it fails), or Mosquitto.
            await asyncio.wait(tasks[1:], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            up_writer.close()

    async def _from_client(self, reader: asyncio.StreamReader, client: _Client) -> None:
        try:
            while (packet := await read_packet(reader)) is not None:
                client.enqueue(packet)
        finally:
            client.enqueue(_EOF)

    async def _to_broker(
        self, client: _Client, writer: asyncio.StreamWriter, up_writer: asyncio.StreamWriter
    ) -> None:
        while (packet := await client.next()) is not _EOF:
            if packet.kind == Kind.PUBLISH:
                message = parse_publish(packet)
                verdict = mqttrules.judge(
                    message.topic, message.payload, client.info, self._streams()
                )
                if verdict.refusal is not None:
                    # "the client is immediately disconnected and any messages in the
                    # incoming message queue are discarded."
                    self.record("disconnected", client.client_id, message.topic, verdict.refusal)
                    client.queue.clear()
                    writer.transport.abort()
                    return
                if verdict.invalid is not None:
                    self.record("not stored", client.client_id, message.topic, verdict.invalid)
                elif verdict.values:
                    self.store.store_values(verdict.values)
            up_writer.write(packet.encode())
            await up_writer.drain()
            if packet.kind == Kind.DISCONNECT:
                return

    async def _to_client(
        self,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        writer: asyncio.StreamWriter,
        info: TokenInfo,
    ) -> None:
        while (packet := await read_packet(up_reader)) is not None:
            if packet.kind == Kind.PUBLISH:
                message = parse_publish(packet)
                if not mqttrules.may_receive(message.topic, info, self._streams()):
                    if message.qos == 1 and message.packet_id is not None:
                        up_writer.write(puback(message.packet_id))  # taken, not passed on
                    continue
            writer.write(packet.encode())
            await writer.drain()

    def _streams(self) -> dict[str, Datastream]:
        return {s.topic: s for s in self.store.datastreams().values()}


def start(host: str, port: int, state_dir: Path) -> MqttSandbox:
    """Start the MQTT door on ``host:port`` (0: a free port) with its state in
    ``state_dir``; RuntimeError with the install hint if mosquitto is missing."""
    return MqttSandbox(host, port, state_dir)
