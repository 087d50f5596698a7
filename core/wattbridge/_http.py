"""``[wattbridge.http]``: ``/metrics`` in Prometheus' text format and ``/healthz``.

Metrics are read when scraped, from the running runtime: each sink's outbox status (one
SQLite query), the runtime's counters and the process collector of prometheus-client.
``/healthz`` answers 200 ``ok`` when every sink and source is healthy, 503 with one
reason a line otherwise (see :mod:`wattbridge._health`). Serving runs in a daemon
thread; the endpoint has no authentication, so it listens on loopback unless told.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from wattbridge import __version__
from wattbridge._health import assess
from wattbridge._servicesettings import HttpSettings, split_listen

if TYPE_CHECKING:
    from wattbridge._runtime import Runtime

log = logging.getLogger("wattbridge._http")

CurrentRuntime = Callable[[], "Runtime | None"]
"""The runtime now running (None while a reload swaps it)."""


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ModuleNotFoundError:
        raise RuntimeError(
            "[wattbridge.http] needs prometheus-client, which is not installed: "
            "pip install 'wattbridge[metrics]'"
        ) from None
    return prometheus_client


class RuntimeCollector:
    """A prometheus-client collector of one runtime's sinks and sources."""

    def __init__(self, current: CurrentRuntime) -> None:
        self.current = current

    def describe(self) -> list[Any]:
        """Nothing up front: the families depend on the config (prometheus-client then
        does not call ``collect`` at registration)."""
        return []

    def collect(self) -> Iterator[Any]:
        """The metric families, read now."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        runtime = self.current()
        info = GaugeMetricFamily("wattbridge_info", "wattbridge's version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        up = GaugeMetricFamily("wattbridge_running", "1 while a config runs (0 mid-reload)")
        up.add_metric([], 0 if runtime is None else 1)
        yield up
        if runtime is None:
            return
        now = time.time()
        statuses = runtime.sink_statuses()
        snapshot = runtime.stats.snapshot()
        counters = snapshot["counters"]
        health = assess(statuses, snapshot)

        def gauge(name: str, doc: str, label: str) -> Any:
            return GaugeMetricFamily(f"wattbridge_{name}", doc, labels=[label])

        def counter(name: str, doc: str, label: str) -> Any:
            return CounterMetricFamily(f"wattbridge_{name}", doc, labels=[label])

        depth = gauge("sink_queue_depth", "readings queued in the sink's outbox", "sink")
        age = gauge(
            "sink_oldest_reading_age_seconds",
            "age of the oldest queued reading's timestamp (0 when none is queued)",
            "sink",
        )
        sent = counter("sink_sent", "readings the platform stored", "sink")
        retried = counter("sink_retried", "readings whose sending failed and was retried", "sink")
        dead = gauge("sink_dead_letters", "readings the platform refused, kept to look at", "sink")
        halted = gauge("sink_halted", "1 when the platform refused the credentials", "sink")
        success = gauge(
            "sink_last_success_timestamp_seconds", "when readings were last stored", "sink"
        )
        healthy = gauge("sink_healthy", "1 when the sink is neither failing nor retrying", "sink")
        for name, status in statuses.items():
            if status is None:
                continue
            depth.add_metric([name], status.depth)
            oldest = 0.0
            if status.oldest_reading:
                oldest = max(0.0, now - datetime.fromisoformat(status.oldest_reading).timestamp())
            age.add_metric([name], oldest)
            sent.add_metric([name], status.sent_total)
            retried.add_metric([name], status.retried_total)
            dead.add_metric([name], status.dead_letters)
            halted.add_metric([name], 1 if status.halted else 0)
            success.add_metric([name], status.last_success or 0)
            healthy.add_metric([name], 0 if name in health.unhealthy_sinks else 1)
        yield from (depth, age, sent, retried, dead, halted, success, healthy)

        readings = counter("source_readings", "readings the source emitted", "source")
        errors = counter("source_errors", "times the source failed (and was retried)", "source")
        skipped = counter("source_skipped_polls", "polls skipped for a full outbox", "source")
        source_ok = gauge("source_healthy", "1 when the source's last attempt worked", "source")
        for name in runtime.sources:
            readings.add_metric([name], counters.get(f"source.{name}.readings", 0))
            errors.add_metric([name], counters.get(f"source.{name}.failures", 0))
            skipped.add_metric([name], counters.get(f"source.{name}.polls_skipped", 0))
            source_ok.add_metric([name], 0 if name in health.unhealthy_sources else 1)
        yield from (readings, errors, skipped, source_ok)


class MetricsServer:
    """Serves ``/metrics`` and ``/healthz`` for whatever runtime ``current`` returns."""

    def __init__(self, settings: HttpSettings, current: CurrentRuntime) -> None:
        prometheus = _prometheus()
        self.current = current
        self.registry = prometheus.CollectorRegistry()
        prometheus.ProcessCollector(registry=self.registry)
        prometheus.PlatformCollector(registry=self.registry)
        self.registry.register(RuntimeCollector(current))
        self._render = prometheus.generate_latest
        self._content_type = prometheus.CONTENT_TYPE_LATEST
        host, port = split_listen(settings.listen)
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="http", kwargs={"poll_interval": 0.2}
        )
        self.thread.daemon = True

    @property
    def url(self) -> str:
        """``http://host:port`` as bound (the port is real when 0 was asked for)."""
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve in a daemon thread."""
        self.thread.start()
        log.info("metrics at %s/metrics, health at %s/healthz", self.url, self.url)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()

    def health(self) -> tuple[int, str]:
        """The ``/healthz`` answer: status code and body."""
        runtime = self.current()
        if runtime is None:
            return 503, "starting or reloading\n"
        health = assess(runtime.sink_statuses(), runtime.stats.snapshot())
        if not health.reasons:
            return 200, "ok\n"
        return 503, "".join(f"{reason}\n" for reason in health.reasons)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                try:
                    if path == "/metrics":
                        body, ctype, code = owner._render(owner.registry), owner._content_type, 200
                    elif path == "/healthz":
                        code, text = owner.health()
                        body, ctype = text.encode(), "text/plain; charset=utf-8"
                    else:
                        code, body, ctype = 404, b"/metrics or /healthz\n", "text/plain"
                except Exception as exc:  # a scrape must never take the daemon down
                    log.exception("answering %s failed", path)
                    code, body, ctype = 500, (type(exc).__name__ + "\n").encode(), "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http: " + format, *args)

        return Handler
