"""A pytest plugin for plugin authors (and wattbridge's own tests): run a source or a
sink in isolation, or a whole config, with real outboxes in a temporary folder.

Enable it in your ``conftest.py`` with ``pytest_plugins = ["wattbridge.testing"]``.

Fixtures:

- ``wattbridge_registry``: the plugins installed (built-ins and entry points).
- ``wattbridge_config``: ``wattbridge_config(toml_text)`` writes and loads a config whose
  state folder is in ``tmp_path``.
- ``wattbridge_runtime``: ``wattbridge_runtime(toml_text)`` builds and starts a
  :class:`~wattbridge._runtime.Runtime`; it is stopped after the test.
- ``run_source``: ``run_source("modbus", host=..., ...)`` gives a :class:`SourceHarness`.
- ``run_sink``: ``run_sink("jsonl", path=...)`` gives a :class:`SinkHarness`.
- ``wattbridge_sandbox``: ``wattbridge_sandbox("energinet")`` starts a registered sandbox
  on a free loopback port; it is stopped after the test.
- ``mosquitto``: ``mosquitto(users={"token": "pw"}, acl=[...], tls=make_certificates(...))``
  starts a private Mosquitto broker (the real program) on free loopback ports; it is
  stopped after the test.
- ``small_disk``: ``small_disk(path, size)`` mounts a real tmpfs of ``size`` bytes at
  ``path`` (root only: a test that cannot mount fails with the hint); ``fill()`` it to
  test a full disk, ``free()`` it again; it is unmounted after the test.

Helpers: :func:`free_port`, :func:`wait_until`, :func:`plugin_config`,
:func:`jsonl_records` (what a jsonl sink wrote, while it may still be writing),
:func:`outbox_depth` (the readings an outbox file holds, while a run may be writing it),
:func:`make_certificates` (a throw-away CA and server certificate, with ``openssl``);
the program itself: :func:`wattbridge_command`, :func:`start_wattbridge` and
:func:`stop_wattbridge` (``run`` as a process), :func:`wattbridge_status`,
:func:`program_environment`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from wattbridge._config import Config, config_from_data, load_config
from wattbridge._errors import CommandFailed
from wattbridge._opensink import OpenedSink, build_sink
from wattbridge._outbox import DeadLetter, queued_in_file
from wattbridge._plugins import Registry, load_plugins
from wattbridge._programs import TlsFiles, make_certificates
from wattbridge._readings import Reading
from wattbridge._runtime import Runtime
from wattbridge._sources import SourceAdapter, SourceContext
from wattbridge._testpeers import Mosquitto, SmallDisk, free_port
from wattbridge._testruns import (
    program_environment,
    start_wattbridge,
    stop_wattbridge,
    wattbridge_command,
    wattbridge_status,
)

__all__ = [
    "Mosquitto",
    "SinkHarness",
    "SmallDisk",
    "SourceHarness",
    "TlsFiles",
    "free_port",
    "jsonl_records",
    "make_certificates",
    "mosquitto",
    "outbox_depth",
    "plugin_config",
    "program_environment",
    "run_sink",
    "run_source",
    "small_disk",
    "start_wattbridge",
    "stop_wattbridge",
    "wait_until",
    "wattbridge_command",
    "wattbridge_config",
    "wattbridge_registry",
    "wattbridge_runtime",
    "wattbridge_sandbox",
    "wattbridge_status",
]


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll ``predicate`` until it returns something true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def jsonl_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file, such as a jsonl sink writes: complete lines
    only, as a line being appended may be read half-written; none if it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines()]


def outbox_depth(path: Path) -> int | None:
    """The readings queued in the outbox file at ``path`` (one row each, or in segments),
    read while a run may be writing it; None before the run has made it."""
    return queued_in_file(path)


def plugin_config(registry: Registry, kind: str, plugin: str, base_dir: Path, **keys: Any) -> Any:
    """Build and check the attrs config of ``plugin`` (a ``kind`` of "sources" or "sinks")
    from keyword arguments, as if they were written in a TOML table."""
    data = {kind: {"under_test": {"plugin": plugin, **keys}}}
    config = config_from_data(data, base_dir / "test.toml", registry)
    specs: Any = config.sources if kind == "sources" else config.sinks
    return specs["under_test"].config


@attrs.define
class SourceHarness:
    """Runs one source without a bus: polled ones on demand, pushed ones in a thread."""

    source: Any
    context: SourceContext
    emitted: list[Reading] = attrs.Factory(list)
    errors: list[BaseException] = attrs.Factory(list)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = attrs.Factory(threading.Lock)

    def poll(self) -> list[Reading]:
        """Poll a polled source once."""
        readings = list(self.source.poll())
        self.emitted.extend(readings)
        return readings

    def emit(self, readings: Iterable[Reading]) -> None:
        """The ``emit`` handed to a pushed source: records what it emits."""
        with self._lock:
            self.emitted.extend(readings)

    def start(self) -> None:
        """Start a pushed source in a thread."""

        def run() -> None:
            try:
                self.source.start(self.emit)
            except BaseException as exc:  # recorded for the test to assert on
                self.errors.append(exc)

        self._thread = threading.Thread(target=run, daemon=True, name="source-under-test")
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Reading]:
        """Wait until at least ``count`` readings were emitted; return them all."""
        wait_until(
            lambda: len(self.emitted) >= count or self.errors,
            timeout,
            message=f"{count} readings (have {len(self.emitted)})",
        )
        if self.errors:
            raise self.errors[0]
        return list(self.emitted)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a pushed source and wait for its thread."""
        if self._thread is not None:
            self.source.stop()
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "source did not stop"
            self._thread = None
        SourceAdapter(self.source).close()


class SinkHarness:
    """Runs one sink with a real outbox and the core's delivery logic, built the way
    ``wattbridge run`` builds it (:func:`wattbridge.commands.open_sink`)."""

    def __init__(self, opened: OpenedSink) -> None:
        self.opened = opened
        self.sink: Any = opened.sink.plugin
        """The plugin's own sink instance, for tests that look inside it."""
        self.outbox = opened.outbox
        self.worker = opened.worker

    def queue(self, readings: Sequence[Reading]) -> None:
        """Put readings in the outbox, as the bus would."""
        self.opened.put(readings)

    def flush(self) -> int:
        """One flush, as the scheduler would run it; returns readings settled."""
        return self.opened.flush()

    def deliver(self, readings: Sequence[Reading], timeout: float = 30.0) -> list[DeadLetter]:
        """Queue ``readings`` and flush until the outbox is empty; return the dead letters.

        Waits out backoff and rate limits in real time, so use a short ``retry_initial``
        (and, for rate-limited sinks, a test clock) to keep tests fast.
        """
        self.queue(readings)
        try:
            self.opened.drain(timeout=timeout)
        except CommandFailed as exc:  # halted, or still queued after the timeout
            pytest.fail(f"{exc}; last error: {self.opened.status().last_error}")
        return self.opened.dead_letters()

    def close(self) -> None:
        """Close the sink and its outbox."""
        self.opened.close()


@pytest.fixture
def wattbridge_registry() -> Registry:
    """The installed plugins: built-ins and ``wattbridge`` entry points."""
    return load_plugins()


@pytest.fixture
def wattbridge_config(tmp_path: Path, wattbridge_registry: Registry) -> Callable[[str], Config]:
    """``wattbridge_config(text)``: write ``text`` to tmp_path/wattbridge.toml and load it."""

    def make(text: str, name: str = "wattbridge.toml") -> Config:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return load_config(path, wattbridge_registry)

    return make


@pytest.fixture
def wattbridge_runtime(
    wattbridge_config: Callable[[str], Config], wattbridge_registry: Registry
) -> Iterator[Callable[[str], Runtime]]:
    """``wattbridge_runtime(text)``: a started Runtime for the config; stopped afterwards."""
    with contextlib.ExitStack() as cleanup:

        def make(text: str, start: bool = True) -> Runtime:
            runtime = Runtime(wattbridge_config(text), wattbridge_registry)
            cleanup.callback(runtime.stop)
            if start:
                runtime.start()
            return runtime

        yield make


@pytest.fixture
def run_source(
    tmp_path: Path, wattbridge_registry: Registry
) -> Iterator[Callable[..., SourceHarness]]:
    """``run_source(plugin, **keys)``: a harness around a source built from ``keys``."""
    with contextlib.ExitStack() as cleanup:

        def make(plugin: str, **keys: Any) -> SourceHarness:
            config = plugin_config(wattbridge_registry, "sources", plugin, tmp_path, **keys)
            state_dir = tmp_path / "source-state"
            state_dir.mkdir(parents=True, exist_ok=True)
            context = SourceContext("under_test", state_dir, logging.getLogger("test.source"))
            source = wattbridge_registry.sources[plugin].factory(config, context)
            harness = SourceHarness(source, context)
            cleanup.callback(harness.stop)
            return harness

        yield make


@pytest.fixture
def run_sink(tmp_path: Path, wattbridge_registry: Registry) -> Iterator[Callable[..., SinkHarness]]:
    """``run_sink(plugin, clock=None, **keys)``: a harness around a sink built from ``keys``.

    Backoff starts at 10 ms so retries are quick; pass ``clock`` (a function returning
    epoch seconds) to move rate-limit windows without waiting.
    """
    made = itertools.count()
    with contextlib.ExitStack() as cleanup:

        def make(plugin: str, clock: Callable[[], float] | None = None, **keys: Any) -> SinkHarness:
            config = plugin_config(wattbridge_registry, "sinks", plugin, tmp_path, **keys)
            opened = build_sink(
                "under_test",
                wattbridge_registry.sinks[plugin],
                config,
                tmp_path / "sink-state" / str(next(made)),
                retry_initial=timedelta(milliseconds=10),
                retry_max=timedelta(seconds=1),
                clock=clock or time.time,
            )
            cleanup.callback(opened.close)
            return SinkHarness(opened)

        yield make


@pytest.fixture
def wattbridge_sandbox(
    tmp_path: Path, wattbridge_registry: Registry
) -> Iterator[Callable[[str], Any]]:
    """``wattbridge_sandbox(name)``: a registered sandbox on a free loopback port."""
    with contextlib.ExitStack() as cleanup:

        def start(name: str) -> Any:
            if name not in wattbridge_registry.sandboxes:
                installed = sorted(wattbridge_registry.sandboxes)
                pytest.fail(f"no sandbox {name!r}; installed: {installed}")
            state_dir = tmp_path / "sandboxes" / name  # as `wattbridge sandbox` lays them out
            state_dir.mkdir(parents=True, exist_ok=True)
            server = wattbridge_registry.sandboxes[name].start("127.0.0.1", 0, state_dir)
            cleanup.callback(server.stop)
            return server

        yield start


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """``mosquitto(users=None, acl=None, tls=None, persistence=False, max_queued=0)``: a started
    private broker; ``users`` name -> password, ``acl`` lines of mosquitto's ACL file,
    ``tls`` the :class:`TlsFiles` of a TLS listener on ``broker.tls_port``. Fails the
    test with the install hint when mosquitto is missing."""
    started: list[Mosquitto] = []

    def start(
        users: dict[str, str] | None = None,
        acl: list[str] | None = None,
        tls: TlsFiles | None = None,
        persistence: bool = False,
        max_queued: int = 0,
    ) -> Mosquitto:
        try:
            broker = Mosquitto(
                tmp_path / f"mosquitto-{len(started)}",
                users=users,
                acl=acl,
                tls=tls,
                persistence=persistence,
                max_queued=max_queued,
            )
        except RuntimeError as exc:  # mosquitto missing: fail with the install hint
            pytest.fail(str(exc))
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def small_disk() -> Iterator[Callable[[Path, int], SmallDisk]]:
    """``small_disk(path, size)``: a real tmpfs of ``size`` bytes mounted at ``path``,
    unmounted after the test; fails the test with the hint where it cannot mount."""
    mounted: list[SmallDisk] = []

    def mount(path: Path, size: int) -> SmallDisk:
        try:
            disk = SmallDisk(path, size)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        disk.unmount()
