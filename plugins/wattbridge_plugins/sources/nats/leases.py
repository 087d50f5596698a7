"""Partition leases in a JetStream KV bucket: each partition has one owner at a time.

The bucket's TTL is the lease's: an owner renews its keys (compare-and-set on the
revision it holds) every third of it, and an uplink that dies stops renewing, so its keys
age out and the others take them with ``create`` (which only succeeds on a missing key).
Every uplink also writes a heartbeat key, so all know how many are alive and take no
more than their fair share (partitions / uplinks, rounded up); one that holds more (an
uplink came back) lets the extra go.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from typing import Any

_MEMBER = "member."
_PARTITION = "partition."


class PartitionLeases:
    """One uplink's view of the leases; :meth:`renew` is one round (run every ttl/3)."""

    def __init__(
        self, kv: Any, uplink: str, partitions: Sequence[str], ttl: float, log: Any
    ) -> None:
        self.kv = kv
        self.uplink = uplink
        self.ttl = ttl
        self.log = log
        # Each uplink tries the partitions in its own order, so two starting together
        # rarely race for the same key.
        offset = int(hashlib.sha256(uplink.encode()).hexdigest(), 16) % max(1, len(partitions))
        self.order = [*partitions[offset:], *partitions[:offset]]
        self._revisions: dict[str, int] = {}
        self._renewed_at = 0.0
        self.owned: frozenset[str] = frozenset()
        """The partitions this uplink may pull now (read from any thread)."""

    def held(self) -> frozenset[str]:
        """The partitions owned, or none once a renewal is overdue (the lease may have
        run out on the servers while this uplink could not reach them)."""
        if time.monotonic() - self._renewed_at > self.ttl:
            return frozenset()
        return self.owned

    async def renew(self) -> None:
        """Heartbeat, renew what is held, take free partitions up to the fair share,
        and let go of extras."""
        from nats.js.errors import KeyWrongLastSequenceError, NoKeysError

        started = time.monotonic()
        await self.kv.put(_MEMBER + self.uplink, self.uplink.encode())
        try:
            members = sum(1 for k in await self.kv.keys() if k.startswith(_MEMBER))
        except NoKeysError:
            members = 1
        fair = math.ceil(len(self.order) / max(1, members))
        for partition, revision in list(self._revisions.items()):
            try:
                self._revisions[partition] = await self.kv.update(
                    _PARTITION + partition, self.uplink.encode(), last=revision
                )
            except KeyWrongLastSequenceError:
                self.log.warning("lost the lease of partition %s", partition)
                del self._revisions[partition]
        for partition in self.order:
            if len(self._revisions) >= fair:
                break
            if partition in self._revisions:
                continue
            try:
                self._revisions[partition] = await self._take(partition)
                self.log.info("took the lease of partition %s", partition)
            except KeyWrongLastSequenceError:
                continue  # another uplink holds it
        for partition in [p for p in reversed(self.order) if p in self._revisions]:
            if len(self._revisions) <= fair:
                break
            await self._let_go(partition)
        self.owned = frozenset(self._revisions)
        self._renewed_at = started

    async def _take(self, partition: str) -> int:
        """Create the partition's key; or, if it still names this uplink (restarted
        before its lease ran out), renew it. Raises KeyWrongLastSequenceError when
        another uplink holds it."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        key = _PARTITION + partition
        try:
            revision: int = await self.kv.create(key, self.uplink.encode())
            return revision
        except KeyWrongLastSequenceError:
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:  # ran out (or let go) meanwhile: next round
                raise KeyWrongLastSequenceError from None
            if entry.value != self.uplink.encode():
                raise
            revision = await self.kv.update(key, self.uplink.encode(), last=entry.revision)
            return revision

    async def release_all(self) -> None:
        """Give every lease back (on a clean stop), so others take over at once."""
        self.owned = frozenset()
        for partition in list(self._revisions):
            await self._let_go(partition)
        try:
            await self.kv.delete(_MEMBER + self.uplink)
        except Exception:
            self.log.debug("removing the heartbeat failed", exc_info=True)

    async def _let_go(self, partition: str) -> None:
        revision = self._revisions.pop(partition)
        self.owned = frozenset(self._revisions)
        try:
            await self.kv.delete(_PARTITION + partition, last=revision)
            self.log.info("released the lease of partition %s", partition)
        except Exception:  # it runs out by itself
            self.log.debug("releasing %s failed", partition, exc_info=True)
