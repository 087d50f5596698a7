"""``wattbridge test -c FILE``: a dry run, as ``telegraf --test``.

Each polled source is polled once; each pushed source is started and its first batch
taken (within a few seconds); the readings are routed as ``run`` routes them and each
sink shows the exact payloads it would send, made by its own ``preview`` (the code its
``send`` uses). Nothing is sent, no outbox is made, and no source acknowledges its
input: ``emit`` answers :class:`~wattbridge.Stopping`, as when wattbridge stops, so a
watch-folder file stays in its inbox. Sources and sinks keep their state in a
temporary folder, thrown away at the end.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import attrs

from wattbridge._bus import Bus
from wattbridge._config import Config, SinkSpec, SourceSpec
from wattbridge._errors import Stopping
from wattbridge._plugins import Registry
from wattbridge._readings import Reading
from wattbridge._secret import redact
from wattbridge._sinks import Batch, SinkAdapter, SinkContext
from wattbridge._sources import SourceAdapter, SourceContext

log = logging.getLogger("wattbridge._dryrun")


class MemoryState:
    """A sink's key-value state kept in memory: a dry run writes no outbox."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        """The stored value, or None."""
        return self.values.get(key)

    def set(self, key: str, value: str | None) -> None:
        """Store ``value`` (None deletes the key)."""
        if value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = value


class DryRun:
    """One dry run of ``config``; :meth:`run` prints to ``out`` and returns the number of
    sources and sinks that failed."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        out: TextIO,
        *,
        seconds: float = 5.0,
        show: int | None = 20,
    ) -> None:
        self.config = config
        self.registry = registry
        self.out = out
        self.seconds = seconds
        self.show = show
        """Readings shown per source and payloads per sink (None: all)."""
        self.resampled: set[str] = set()
        """Sinks a route resamples for (their readings are shown before resampling)."""
        self.failures = 0

    def say(self, text: str = "") -> None:
        """One line of the report (secrets redacted, as everywhere)."""
        self.out.write(redact(text) + "\n")

    def run(self) -> int:
        """Read every source, show every sink's payloads; returns the failures."""
        # Resampling folds readings into windows kept in the outbox, which a dry run does
        # not have: readings are shown and formatted as they come, and that is said.
        routes = [attrs.evolve(route, resample=None) for route in self.config.routes]
        self.resampled = {
            sink for route in self.config.routes if route.resample for sink in route.sinks
        }
        bus = Bus(routes, {}, transform_hook=self.registry.hook.wattbridge_transform_reading)
        per_sink: dict[str, list[Reading]] = defaultdict(list)
        with tempfile.TemporaryDirectory(prefix="wattbridge-test-") as folder:
            state = Path(folder)
            for source in self.config.sources.values():
                readings = self.read_source(source, state / "sources" / source.name)
                for sink, items in bus.route(source.name, readings).items():
                    per_sink[sink].extend(items)
            for spec in self.config.sinks.values():
                self.show_sink(spec, per_sink.get(spec.name, []), state / "sinks" / spec.name)
        self.say(f"nothing was sent and no outbox was written; {self.failures} failure(s)")
        return self.failures

    # -- sources -----------------------------------------------------------------

    def read_source(self, spec: SourceSpec, folder: Path) -> list[Reading]:
        """Poll or start the source once; print what it gave."""
        folder.mkdir(parents=True, exist_ok=True)
        problems: dict[str, str] = {}

        def report_error(part: str, message: str | None) -> None:
            if message is None:
                problems.pop(part, None)
            else:
                problems[part] = message

        logger = logging.getLogger(f"wattbridge.source.{spec.name}")
        context = SourceContext(spec.name, folder, logger, report_error=report_error)
        # What the source warns of (a device down, a host unreachable) is what a dry run
        # is for: shown under the source and counted as a failure.
        warnings = _Collect(logging.WARNING)
        logger.addHandler(warnings)
        try:
            readings = self._read(spec, context)
        finally:
            logger.removeHandler(warnings)
        for part, message in sorted(problems.items()):
            self.failures += 1
            self.say(f"  error: {part}: {message}")
        for message in warnings.messages:
            self.failures += 1
            self.say(f"  warning: {message}")
        return readings

    def _read(self, spec: SourceSpec, context: SourceContext) -> list[Reading]:
        try:
            source = SourceAdapter(spec.type.factory(spec.config, context))
        except Exception as exc:
            return self._source_failed(spec, "cannot be built", exc)
        try:
            if source.polled:
                readings = list(source.poll())
                how = "polled once"
            else:
                readings = self._first_push(source)
                how = f"first batch within {self.seconds:g}s"
        except Exception as exc:
            return self._source_failed(spec, "failed", exc)
        finally:
            try:
                source.close()
            except Exception:
                log.debug("closing source %s failed", spec.name, exc_info=True)
        self.say(f"source {spec.name} ({spec.type.name}, {how}): {len(readings)} reading(s)")
        for reading in readings[: self.show]:
            unit = f" {reading.unit}" if reading.unit else ""
            self.say(
                f"  {reading.timestamp.isoformat()}  {reading.stream} = {reading.value!r}{unit}"
            )
        self._more(len(readings), "reading(s)")
        return readings

    def _more(self, total: int, what: str) -> None:
        if self.show is not None and total > self.show:
            self.say(f"  ... and {total - self.show} more {what} (--show 0 shows all)")

    def _source_failed(self, spec: SourceSpec, what: str, exc: Exception) -> list[Reading]:
        self.failures += 1
        self.say(f"source {spec.name} ({spec.type.name}): {what}: {type(exc).__name__}: {exc}")
        return []

    def _first_push(self, source: SourceAdapter) -> list[Reading]:
        taken: list[Reading] = []
        got = threading.Event()
        failure: list[BaseException] = []

        def emit(readings: Iterable[Reading]) -> None:
            if not got.is_set():
                taken.extend(readings)
                got.set()
            # Refused, as when stopping: the source must not acknowledge its input.
            raise Stopping("wattbridge test: nothing is queued")

        def start() -> None:
            try:
                source.start(emit)
            except Stopping:
                pass
            except BaseException as exc:
                failure.append(exc)
            finally:
                got.set()

        thread = threading.Thread(target=start, name="dry-run source", daemon=True)
        thread.start()
        got.wait(self.seconds)
        source.stop()
        thread.join(max(5.0, self.seconds))
        if failure:
            raise failure[0]
        return taken

    # -- sinks ---------------------------------------------------------------------

    def show_sink(self, spec: SinkSpec, readings: Sequence[Reading], folder: Path) -> None:
        """Print the payloads the sink would send for ``readings``."""
        folder.mkdir(parents=True, exist_ok=True)
        logger = logging.getLogger(f"wattbridge.sink.{spec.name}")
        try:
            sink = SinkAdapter(
                spec.type.factory(
                    spec.config, SinkContext(spec.name, folder, logger, MemoryState())
                )
            )
        except Exception as exc:
            self.failures += 1
            self.say(
                f"sink {spec.name} ({spec.type.name}): cannot be built: {type(exc).__name__}: {exc}"
            )
            return
        try:
            self.say(
                f"sink {spec.name} ({spec.type.name}): {len(readings)} reading(s) would be queued"
            )
            if spec.name in self.resampled:
                self.say("  (a route resamples for this sink: shown before resampling)")
            if not readings:
                return
            if not sink.can_preview:
                self.say("  (this sink's plugin cannot show its payloads)")
                return
            shown = 0
            for batch in batches(sink, readings, spec.common.batch_size):
                for where, payload in sink.preview(batch):
                    shown += 1
                    if self.show is not None and shown > self.show:
                        continue  # made all the same: a payload that cannot be made is reported
                    self.say(f"  {where}")
                    lines = payload.splitlines()
                    for line in lines[: self.show]:
                        self.say(f"    {line}")
                    if self.show is not None and len(lines) > self.show:
                        self.say(f"    ... and {len(lines) - self.show} more line(s)")
            self._more(shown, "payload(s)")
        except Exception as exc:
            self.failures += 1
            self.say(f"sink {spec.name}: preview failed: {type(exc).__name__}: {exc}")
        finally:
            try:
                sink.close()
            except Exception:
                log.debug("closing sink %s failed", spec.name, exc_info=True)


class _Collect(logging.Handler):
    """Keeps the messages of records at ``level`` or above."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(redact(record.getMessage()))


def batches(sink: SinkAdapter, readings: Sequence[Reading], batch_size: int | None) -> list[Batch]:
    """The batches the outbox would hand the sink: per credential, in order, at most the
    sink's (and the config's) batch size each."""
    size = min(sink.limits.max_batch, batch_size or sink.limits.max_batch)
    by_credential: dict[str, list[Reading]] = defaultdict(list)
    for reading in readings:
        by_credential[sink.credential(reading)].append(reading)
    result = []
    next_id = 1
    for credential, items in by_credential.items():
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            ids = list(range(next_id, next_id + len(chunk)))
            next_id += len(chunk)
            result.append(Batch(readings=chunk, ids=ids, credential=credential))
    return result
