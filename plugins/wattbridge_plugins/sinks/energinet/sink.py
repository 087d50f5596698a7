"""The ``energinet`` sink: readings to energinet.net's import API, one sender profile
(one bearer token) per rate-limit credential.

The core keeps one request per profile per ``request_interval + request_margin`` and
remembers it across restarts; this sink packs each request close to the payload bound,
refuses locally what the platform would refuse, and turns the per-meter statuses of
the answer into a per-reading :class:`~wattbridge.SendResult`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

from wattbridge import Batch, Reading, SendResult, SinkContext, SinkLimits
from wattbridge_plugins.sinks.energinet.client import (
    Answer,
    BadResponse,
    Client,
    MeterStatus,
    TransportError,
    parse_statuses,
)
from wattbridge_plugins.sinks.energinet.config import EnerginetConfig
from wattbridge_plugins.sinks.energinet.payload import (
    Packed,
    TimeFormat,
    max_readings,
    pack,
)

MAX_AGE_YEARS = 5
MIN_REPACK_BYTES = 1_000


def five_years_before(now: datetime) -> datetime:
    """The same calendar instant five years earlier (29 February becomes the 28th)."""
    try:
        return now.replace(year=now.year - MAX_AGE_YEARS)
    except ValueError:
        return now.replace(year=now.year - MAX_AGE_YEARS, day=28)


def meter_verdict(status: int) -> str:
    """What a per-meter status means for that meter's readings: ok, retry or reject.

    2xx: stored. 408, 425, 429 and 5xx: the platform could not take them now. Any
    other 4xx (400 invalid, 403 not in this import, 404 unknown meter, 422 ...): it
    will refuse them again, so they are dead-lettered with the reason, to be replayed
    after the meter setup is fixed. Anything else is unknown: retried.
    """
    if 200 <= status < 300:
        return "ok"
    if status in (408, 425, 429) or status >= 500:
        return "retry"
    if 400 <= status < 500:
        return "reject"
    return "retry"


class EnerginetSink:
    """Sends readings to energinet.net; see the module doc and the plugin's README."""

    def __init__(self, config: EnerginetConfig, context: SinkContext) -> None:
        self.config = config
        self.context = context
        self.log = context.logger
        self.time_format = TimeFormat(config.timezone, config.time_format)
        self.window = config.request_interval + config.request_margin
        self.limits = SinkLimits(
            # Enough readings that a full payload of the smallest entries is reachable.
            max_batch=max_readings(config.max_payload_bytes, self.time_format),
            max_payload_bytes=config.max_payload_bytes,
            min_interval=self.window,
        )
        self.profile_of: dict[str, str] = {}
        self.meter_of: dict[str, str] = {}
        for profile, sender in config.senders.items():
            for stream, meter in sender.meters.items():
                self.profile_of[stream] = profile
                self.meter_of[stream] = meter
        # Lowered for a profile after a 413 (and kept in the state), so the next is smaller.
        self.payload_limit: dict[str, int] = {}
        self.clock = time.time
        self._posted: dict[str, float] = {}
        if not config.verify_tls:
            self.log.warning(
                "verify_tls is off: the sender tokens go to whoever answers at %s", config.url
            )
        self.client = Client(config.url, timeout=config.timeout.total_seconds(), tls=config)

    def _limit(self, profile: str) -> int:
        limit = self.payload_limit.get(profile)
        if limit is None:
            stored = self.context.state.get(f"limit:{profile}")
            limit = min(int(stored), self.config.max_payload_bytes) if stored else None
            limit = limit or self.config.max_payload_bytes
            self.payload_limit[profile] = limit
        return limit

    def credential(self, reading: Reading) -> str:
        """The sender profile a reading is sent with ("" when its stream has none)."""
        return self.profile_of.get(reading.stream, "")

    def interrupt(self) -> None:
        """Cut a request in progress: wattbridge stops (its batch becomes a retry)."""
        self.client.interrupt()

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    # -- sending -----------------------------------------------------------------

    def preview(self, batch: Batch) -> Iterator[tuple[str, str]]:
        """The request bodies ``send`` would post for the batch (one per 10-minute window
        when it needs several), and the readings it would refuse."""
        profile = batch.credential
        if profile not in self.config.senders:
            yield "not sent", f"no sender profile maps these streams (profile {profile!r})"
            return
        now = datetime.fromtimestamp(self.clock(), UTC)
        left = list(batch.readings)
        while left:
            packed = pack(
                left,
                self.meter_of.get,
                limit=self._limit(profile),
                time_format=self.time_format,
                oldest=five_years_before(now) + self.config.max_age_margin,
            )
            for index, reason in sorted(packed.rejected.items()):
                yield f"not sent: {left[index].stream}", reason
            if packed.meters:
                yield (
                    f"POST {self.config.url} (sender profile {profile}, bearer token)",
                    packed.body.decode("utf-8"),
                )
            done = set(packed.sent) | set(packed.rejected)
            if not done:
                break
            left = [r for i, r in enumerate(left) if i not in done]

    def send(self, batch: Batch) -> SendResult:
        """Pack one request for the batch's sender profile, post it, and read the answer."""
        profile = batch.credential
        if profile not in self.config.senders:
            # Queued under a profile since removed from the config (or under none). Another
            # profile's token must not carry them: its window is kept separately.
            reason = (
                f"queued for sender profile {profile!r}, which is no longer in the config"
                if profile
                else "its stream is mapped to no meter in the sink's sender profiles"
            )
            rejected = dict.fromkeys(range(len(batch)), reason)
            return SendResult.partial(rejected=rejected, reason=reason, requested=False)
        now = self.clock()
        now_dt = datetime.fromtimestamp(now, UTC)
        # The core stamped this window before calling send, but the platform counts a
        # request when it arrives, after packing. So the sink keeps its own durable stamp
        # of the moment each post went out, written before it goes, and never posts
        # within a window of it: jitter of a few ms must not cost a 429.
        stored = self.context.state.get(f"posted:{profile}")
        posted = max(float(stored or 0.0), self._posted.get(profile, 0.0))
        if posted > now + self.window.total_seconds():
            # Written by a clock that was ahead (a run with the clock a day fast): taken
            # as now, or that one run would silence the sender until the clock caught up.
            self.log.warning(
                "sender %r: the last post is stamped %.0fs ahead of the clock now; "
                "counting it as posted now",
                profile,
                posted - now,
            )
            posted = now
            self._posted[profile] = now
            self.context.state.set(f"posted:{profile}", repr(now))
        if now < posted + self.window.total_seconds():
            not_before = datetime.fromtimestamp(posted, UTC) + self.window
            return SendResult.in_progress("window not over", not_before, requested=False)
        packed = pack(
            batch.readings,
            self.meter_of.get,
            limit=self._limit(profile),
            time_format=self.time_format,
            oldest=five_years_before(now_dt) + self.config.max_age_margin,
        )
        if not packed.meters:
            return SendResult.partial(rejected=packed.rejected, requested=False)
        now = self.clock()  # again: packing took a moment, and the stamp is of the post
        now_dt = datetime.fromtimestamp(now, UTC)
        self.context.state.set(f"posted:{profile}", repr(now))
        # The durable stamp guards restarts; this one, taken after the disk write, is
        # closer still to the post's arrival, and guards the rest of this run.
        self._posted[profile] = self.clock()
        next_window = now_dt + self.window
        sender = self.config.senders[profile]
        try:
            answer = self.client.post(packed.body, sender.token, now)
        except TransportError as exc:
            # It may or may not have arrived: the window counts as used.
            return self._retry(packed, f"sender {profile!r}: {exc}", next_window)
        return self._result(profile, packed, answer, now_dt, next_window)

    def _retry(self, packed: Packed, reason: str, not_before: datetime) -> SendResult:
        return SendResult.partial(
            retry=packed.sent, rejected=packed.rejected, reason=reason, not_before=not_before
        )

    def _result(
        self, profile: str, packed: Packed, answer: Answer, now: datetime, next_window: datetime
    ) -> SendResult:
        status = answer.status
        where = f"sender {profile!r}: energinet.net answered {status}"
        if status in (401, 403):
            return SendResult.halted(
                f"{where}: it refused the token of sender profile {profile!r}; "
                f"check senders.{profile}.token, then restart"
            )
        if status in (404, 405):
            return SendResult.halted(f"{where}: {self.config.url} is not the import endpoint")
        if status == 413:
            # Should not happen (we pack below the stricter reading of 0.5 MB), but if the
            # platform counts otherwise, pack smaller from now on, across restarts too.
            smaller = max(MIN_REPACK_BYTES, int(len(packed.body) * 0.9))
            self.payload_limit[profile] = smaller
            self.context.state.set(f"limit:{profile}", str(smaller))
            self.log.warning(
                "%s (payload too large) to %d bytes; packing at most %d bytes from now on",
                where,
                len(packed.body),
                smaller,
            )
            return self._retry(packed, f"{where} (payload too large)", next_window)
        if status == 429:
            not_before = next_window
            if answer.retry_after is not None:
                not_before = max(not_before, now + timedelta(seconds=answer.retry_after))
            return self._retry(packed, f"{where} (too many requests)", not_before)
        if status == 400:
            reason = f"{where} (bad request): {_snippet(answer.body)}"
            rejected = dict(packed.rejected)
            rejected.update(dict.fromkeys(packed.sent, reason))
            return SendResult.partial(rejected=rejected, reason=reason)
        if not 200 <= status < 300:
            return self._retry(packed, f"{where}: {_snippet(answer.body)}", next_window)
        try:
            statuses = parse_statuses(answer.body)
        except BadResponse as exc:
            # Stored or not, we cannot tell: send again (the platform keeps one value
            # per meter and time, so a repeat does no harm).
            return self._retry(packed, f"{where} with an unreadable body: {exc}", next_window)
        self.log.debug(
            "sender %r: %d values of %d meters sent (%d bytes); answer %d",
            profile,
            len(packed.sent),
            len(packed.meters),
            len(packed.body),
            status,
        )
        return self._per_meter(profile, packed, statuses, next_window)

    def _per_meter(
        self,
        profile: str,
        packed: Packed,
        statuses: Mapping[str, MeterStatus],
        next_window: datetime,
    ) -> SendResult:
        ok: list[int] = []
        retry: list[int] = []
        rejected = dict(packed.rejected)
        reasons: list[str] = []
        for meter, indices in packed.meters.items():
            verdict = statuses.get(meter)
            if verdict is None:
                retry.extend(indices)
                reasons.append(f"meter {meter}: missing from the answer")
                continue
            outcome = meter_verdict(verdict.status)
            detail = f"meter {meter}: status {verdict.status}" + (
                f" ({verdict.message})" if verdict.message else ""
            )
            if outcome == "ok":
                ok.extend(indices)
                if verdict.number_of_values not in (None, len(indices)):
                    self.log.warning(
                        "sender %r, %s: stored %s of %d values sent",
                        profile,
                        detail,
                        verdict.number_of_values,
                        len(indices),
                    )
            elif outcome == "reject":
                reason = f"energinet.net refused {detail}"
                rejected.update(dict.fromkeys(indices, reason))
            else:
                retry.extend(indices)
                reasons.append(detail)
        reason = f"sender {profile!r}: " + "; ".join(reasons[:5]) if reasons else ""
        return SendResult.partial(
            ok=ok,
            retry=retry,
            rejected=rejected,
            reason=reason,
            not_before=next_window if retry else None,
        )


def _snippet(body: bytes, size: int = 300) -> str:
    text = body[:size].decode("utf-8", "replace").strip()
    return text or "(no body)"
