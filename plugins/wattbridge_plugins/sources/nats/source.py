"""The ``nats`` source: an uplink's side of scale-out, pulling what collectors published.

Each partition (a platform credential's subjects) has a durable pull consumer per
subject filter; the uplink pulls only the partitions whose lease it holds (see
:mod:`.leases`). A fetched message is acknowledged to JetStream only after ``emit``
returned, that is once its readings are durable in every outbox its routes name; a
crash before that gets the message delivered again after ``ack_wait``, and a repeat
writes the same value again (once in effect). A message that cannot be read is logged
with its stream sequence, counted and terminated: it stays in the stream to inspect.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from typing import Any

from wattbridge import DataError, Emit, Reading, SourceContext, Stopping
from wattbridge_plugins.common import nats_wire
from wattbridge_plugins.common.nats_bridge import (
    EventLoopThread,
    ensure_stream,
    kv_cas_problem,
    open_connection,
    server_version,
)
from wattbridge_plugins.sources.nats.config import NatsSourceConfig
from wattbridge_plugins.sources.nats.leases import PartitionLeases
from wattbridge_plugins.sources.nats.stamps import KvRateLimits

FETCH_WAIT = 0.25
"""Seconds a fetch waits for a first message. Short: the owned partitions are fetched
together, and one with nothing new must not hold up the others' messages long."""
IDLE_WAIT = 0.2
"""Seconds to wait when there is no partition to pull or no room in the outboxes."""


class NatsSource:
    """A pushed source over JetStream pull consumers; see the module doc."""

    def __init__(self, config: NatsSourceConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context
        self.log = context.logger
        self.uplink = config.uplink or f"{socket.gethostname()}-{os.getpid()}".replace(".", "-")
        self.stamps = {
            sink: KvRateLimits(sink, config.timeout.total_seconds())
            for sink in config.shared_limits
        }
        self.leases: PartitionLeases | None = None
        self._stop = threading.Event()
        self._loop: EventLoopThread | None = None
        self._nc: Any = None
        self._js: Any = None
        self._subscriptions: dict[str, list[Any]] = {}

    # -- connection ---------------------------------------------------------------

    async def _prepare(self) -> None:
        """The stream, the lease bucket and (for ``shared_limits``) the stamps bucket."""
        config = self.config
        problem = kv_cas_problem(server_version(self._nc), config.replicas)
        if problem is not None:
            raise RuntimeError(problem)
        self._js = self._nc.jetstream(timeout=config.timeout.total_seconds())
        await ensure_stream(self._js, config)
        leases = await self._bucket(config.lease_bucket, config.lease_ttl.total_seconds())
        self.leases = PartitionLeases(
            leases, self.uplink, list(config.partitions), config.lease_ttl.total_seconds(), self.log
        )
        if self.stamps:
            stamps = await self._bucket(config.stamps_bucket, None)
            for store in self.stamps.values():
                store.attach(self._loop, stamps)

    async def _bucket(self, name: str, ttl: float | None) -> Any:
        from nats.js.errors import BucketNotFoundError

        try:
            return await self._js.key_value(name)
        except BucketNotFoundError:
            return await self._js.create_key_value(
                bucket=name, ttl=ttl, history=1, replicas=self.config.replicas
            )

    async def _hold_leases(self) -> None:
        assert self.leases is not None
        while True:
            try:
                await self.leases.renew()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log.warning("renewing partition leases failed: %s", exc)
            await asyncio.sleep(self.leases.ttl / 3)

    # -- pulling ------------------------------------------------------------------

    async def _subscribe(self, owned: frozenset[str]) -> list[Any]:
        """Pull subscriptions of the owned partitions (made or dropped as leases move)."""
        from nats.js.api import AckPolicy, ConsumerConfig

        config = self.config
        for partition in list(self._subscriptions):
            if partition not in owned:
                for subscription in self._subscriptions.pop(partition):
                    await subscription.unsubscribe()
        for partition in owned:
            if partition in self._subscriptions:
                continue
            subscriptions = []
            for index, subject in enumerate(config.partitions[partition]):
                consumer = ConsumerConfig(
                    durable_name=f"{config.durable}-{partition}-{index}",
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=config.ack_wait.total_seconds(),
                    max_ack_pending=max(1000, config.fetch * 10),
                    filter_subject=subject,
                )
                subscriptions.append(
                    await self._js.pull_subscribe(
                        subject,
                        durable=consumer.durable_name,
                        stream=config.stream,
                        config=consumer,
                    )
                )
            self._subscriptions[partition] = subscriptions
        return [s for subs in self._subscriptions.values() for s in subs]

    async def _fetch(self, owned: frozenset[str]) -> list[Any]:
        subscriptions = await self._subscribe(owned)

        async def one(subscription: Any) -> list[Any]:
            try:
                messages: list[Any] = await subscription.fetch(
                    self.config.fetch, timeout=FETCH_WAIT
                )
                return messages
            except TimeoutError:
                return []

        batches = await asyncio.gather(*(one(s) for s in subscriptions))
        return [m for batch in batches for m in batch]

    def readings_of(self, messages: list[Any]) -> tuple[list[Reading], list[Any], list[Any]]:
        """The messages' readings, the messages that gave them and those refused."""
        readings: list[Reading] = []
        good: list[Any] = []
        bad: list[Any] = []
        for message in messages:
            sequence = message.metadata.sequence.stream
            where = f"{self.config.stream} message {sequence} ({message.subject})"
            try:
                readings += nats_wire.decode(message.data, where)
                good.append(message)
            except DataError as exc:
                self.log.error("message refused, left in the stream: %s", exc)
                bad.append(message)
        return readings, good, bad

    async def _settle(self, good: list[Any], bad: list[Any]) -> None:
        await asyncio.gather(*(m.ack_sync() for m in good), *(m.term() for m in bad))

    # -- the source ---------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Hold leases and pull owned partitions until :meth:`stop`."""
        self._stop.clear()
        if self._loop is None:
            self._loop = EventLoopThread(f"nats-source-{self.context.name}")
        loop = self._loop
        timeout = self.config.timeout.total_seconds()
        try:
            self._nc = open_connection(loop, self.config, f"wattbridge-{self.uplink}", self.log)
            loop.run(self._prepare(), timeout * 3)
        except BaseException:
            self._disconnect(loop, timeout)  # a half-made connection must not linger
            raise
        assert self.leases is not None
        holding = loop.submit(self._hold_leases())
        try:
            while not self._stop.is_set():
                owned = self.leases.held()
                if not owned or not self.context.has_room():
                    self._stop.wait(IDLE_WAIT)
                    continue
                try:
                    messages = loop.run(self._fetch(owned), timeout + FETCH_WAIT * 2)
                except Exception as exc:  # the bus away: wait, the client reconnects
                    self.log.warning("fetching failed: %s", exc)
                    self._stop.wait(1.0)
                    continue
                if messages:
                    self._deliver(emit, messages)
        finally:
            holding.cancel()
            self._disconnect(loop, timeout)

    def _deliver(self, emit: Emit, messages: list[Any]) -> None:
        assert self._loop is not None
        readings, good, bad = self.readings_of(messages)
        if readings:
            try:
                emit(readings)
            except Stopping:
                return  # not acknowledged: delivered again later
        if bad:
            self.context.count("refused", len(bad))
        self.context.count("messages", len(good))
        try:
            self._loop.run(self._settle(good, bad), self.config.timeout.total_seconds())
        except Exception as exc:  # delivered again after ack_wait: harmless
            self.log.warning("acknowledging %d message(s) failed: %s", len(good), exc)

    def _disconnect(self, loop: EventLoopThread, timeout: float) -> None:
        for store in self.stamps.values():
            store.attach(None, None)

        async def leave() -> None:
            if self.leases is not None:
                await self.leases.release_all()
            self._subscriptions.clear()
            if self._nc is not None:
                await self._nc.close()

        try:
            loop.run(leave(), timeout)
        except Exception:
            self.log.debug("leaving NATS cleanly failed", exc_info=True)
        self._nc = self._js = None

    def stop(self) -> None:
        """Make :meth:`start` return (its leases are given back)."""
        self._stop.set()

    def close(self) -> None:
        """Stop the event loop."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None
