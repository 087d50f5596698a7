"""The ``nats`` sink: readings into a JetStream stream, for uplinks to take on.

A batch is split by subject (``{prefix}.{site}.{stream}``) into messages of at most
``message_readings`` readings, published concurrently. Each carries ``Nats-Msg-Id``, the
digest of its subject and body, so a batch sent again after a lost ack is dropped by the
stream as a duplicate. A reading is acknowledged (leaves the outbox) only when
JetStream's publish ack for its message came back: the stream has it, replicated.
While the bus is away, readings wait in the outbox as for any sink.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import defaultdict
from typing import Any

from wattbridge import Batch, Reading, SendResult, SinkContext, SinkLimits
from wattbridge_plugins.common import nats_wire
from wattbridge_plugins.common.nats_bridge import EventLoopThread, ensure_stream, open_connection
from wattbridge_plugins.common.nats_keys import subject_token
from wattbridge_plugins.sinks.nats.config import NatsSinkConfig


class NatsSink:
    """Publishes batches to JetStream and acks each reading on its message's PubAck."""

    def __init__(self, config: NatsSinkConfig, context: SinkContext) -> None:
        self.config = config
        self.log = context.logger
        self.name = f"wattbridge-{context.name}-{socket.gethostname()}-{os.getpid()}"
        self.limits = SinkLimits(max_batch=config.batch)
        self._loop: EventLoopThread | None = None
        self._nc: Any = None
        self._js: Any = None
        self._subjects: dict[str, str] = {}

    def open(self) -> None:
        """Connect and make the stream if it is missing."""
        if self._nc is not None:
            return
        self._loop = EventLoopThread(f"nats-sink-{self.config.site}")
        timeout = self.config.timeout.total_seconds()
        try:
            self._nc = open_connection(self._loop, self.config, self.name, self.log)
            self._js = self._nc.jetstream(timeout=timeout)
            self._loop.run(ensure_stream(self._js, self.config), timeout * 2)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Drain the connection and stop the loop."""
        loop, nc = self._loop, self._nc
        self._loop = self._nc = self._js = None
        if loop is None:
            return
        if nc is not None:
            try:
                loop.run(nc.close(), timeout=5)
            except Exception:
                self.log.debug("closing the NATS connection failed", exc_info=True)
        loop.close()

    def subject(self, reading: Reading) -> str:
        """The subject ``reading`` is published on."""
        subject = self._subjects.get(reading.stream)
        if subject is None:
            subject = self.config.subject.format(
                prefix=self.config.prefix,
                site=self.config.site,
                stream=subject_token(reading.stream),
            )
            if len(self._subjects) < 100_000:
                self._subjects[reading.stream] = subject
        return subject

    def messages(self, batch: Batch) -> list[tuple[str, bytes, list[int]]]:
        """The batch as (subject, body, positions in the batch) messages."""
        by_subject: dict[str, list[int]] = defaultdict(list)
        for position, reading in enumerate(batch.readings):
            by_subject[self.subject(reading)].append(position)
        size = self.config.message_readings
        messages = []
        for subject, positions in by_subject.items():
            for start in range(0, len(positions), size):
                chunk = positions[start : start + size]
                body = nats_wire.encode([batch.readings[i] for i in chunk])
                messages.append((subject, body, chunk))
        return messages

    def send(self, batch: Batch) -> SendResult:
        """Publish the batch; ok the readings whose messages JetStream acknowledged."""
        if self._loop is None:
            self.open()
        assert self._loop is not None
        messages = self.messages(batch)
        timeout = self.config.timeout.total_seconds()
        results = self._loop.run(self._publish_all(messages), timeout * 2 + 5)
        ok: list[int] = []
        retry: list[int] = []
        reason = ""
        for (_subject, _body, positions), error in zip(messages, results, strict=True):
            if error is None:
                ok += positions
            else:
                retry += positions
                reason = reason or error
        return SendResult.partial(ok=ok, retry=retry, reason=reason)

    async def _publish_all(self, messages: list[tuple[str, bytes, list[int]]]) -> list[str | None]:
        return list(await asyncio.gather(*(self._publish(s, b) for s, b, _ in messages)))

    async def _publish(self, subject: str, body: bytes) -> str | None:
        """None once the stream acknowledged the message, else why not."""
        headers = {"Nats-Msg-Id": nats_wire.message_id(subject, body)}
        try:
            ack = await self._js.publish(
                subject,
                body,
                timeout=self.config.timeout.total_seconds(),
                stream=self.config.stream,
                headers=headers,
            )
        except Exception as exc:  # no responders, timeout, a stream error: all retried
            return f"publishing to {subject} failed: {type(exc).__name__}: {exc}"
        if ack.stream != self.config.stream:
            return f"{subject} was stored by stream {ack.stream}, not {self.config.stream}"
        return None
