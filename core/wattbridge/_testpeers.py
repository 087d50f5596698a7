"""Real peers for tests: free loopback ports, throw-away certificates, a private Mosquitto,
a small real disk (tmpfs) to fill.

Public through :mod:`wattbridge.testing`; nothing here runs in production. The broker
is the real ``mosquitto`` program (Debian's package), configured per test with a
password file, an ACL and a TLS listener, as EnergyData.dk's broker and a household's
own are; a missing program fails with the install hint, never a skip.
"""

from __future__ import annotations

import getpass
import os
import random
import socket
import subprocess
import time
from pathlib import Path

from wattbridge._programs import TlsFiles, mosquitto_binary, stop_process

_handed_out: set[int] = set()


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux's
    ip_local_port_range; IANA's 49152 where it cannot be read)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``, never the same one twice in a
    process. It is taken below the kernel's ephemeral range: a port from that range (as
    binding port 0 gives) can be taken by any outgoing connection between this check and
    the server's own bind, which cost a nats-server cluster its route port under load."""
    floor = _ephemeral_floor()
    for _ in range(1000):
        candidate = random.randrange(10_000, floor) if floor > 11_000 else 0
        if candidate in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free TCP port on {host}")


# CONNECT, MQTT 3.1.1, clean session, keep-alive 60 s, empty client id.
_CONNECT = bytes([0x10, 12, 0, 4, *b"MQTT", 4, 0x02, 0, 60, 0, 0])


def _answers_mqtt(port: int) -> bool:
    """True if an MQTT broker answers CONNECT on ``port`` (any CONNACK will do)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(_CONNECT)
            return sock.recv(4)[:1] == b"\x20"
    except OSError:
        return False


class _PortTaken(Exception):
    """Another program bound one of the broker's ports first."""


class Mosquitto:
    """One private broker. ``users`` name -> password; ``acl`` lines of mosquitto's ACL
    file (None: no ACL); ``tls`` adds a TLS listener on ``tls_port``; ``max_queued`` is
    the messages it queues a client before dropping (0: no bound)."""

    def __init__(
        self,
        folder: Path,
        *,
        users: dict[str, str] | None = None,
        acl: list[str] | None = None,
        tls: TlsFiles | None = None,
        persistence: bool = False,
        max_queued: int = 0,
    ) -> None:
        self.binary = mosquitto_binary()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o777)
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = folder / "mosquitto.log"
        lines = [
            f"user {getpass.getuser()}",  # as root, stay root: the files are ours
            "per_listener_settings false",
            f"allow_anonymous {'false' if users is not None else 'true'}",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {folder}/",
            "autosave_interval 0",
            # 0: the test subscribers must not lose anything; 1000 is Mosquitto's
            # default (and EnergyData's broker's), for a test of what a full queue drops.
            f"max_queued_messages {max_queued}",
            "max_inflight_messages 0",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if users is not None:
            password_file = folder / "passwords"
            password_file.write_text("", encoding="utf-8")
            for user, password in users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(password_file), user, password],
                    check=True,
                    capture_output=True,
                )
            password_file.chmod(0o600)
            lines.append(f"password_file {password_file}")
        if acl is not None:
            acl_file = folder / "acl"
            acl_file.write_text("\n".join(acl) + "\n", encoding="utf-8")
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        self._lines = lines
        self._tls = tls
        self._started_once = False
        self.conf = folder / "mosquitto.conf"
        self._write_conf()

    def _write_conf(self) -> None:
        lines = [*self._lines, f"listener {self.port} 127.0.0.1"]
        if self._tls is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self._tls.ca}",
                f"certfile {self._tls.cert}",
                f"keyfile {self._tls.key}",
            ]
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def start(self, timeout: float = 10.0) -> Mosquitto:
        """Start the broker and wait until its listeners accept connections.

        Other programs on a shared machine may take a port between :func:`free_port`
        and mosquitto's bind: the first start then moves to new ports; a restart keeps
        its ports (clients reconnect there) and tries again until ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._start_once(deadline)
                self._started_once = True
                return self
            except _PortTaken:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto could not bind: {self.diagnostics()}") from None
                if not self._started_once:
                    self.port = free_port()
                    self.tls_port = free_port() if self._tls else None
                    self._write_conf()
                time.sleep(0.1)

    def _start_once(self, deadline: float) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # Mosquitto binds every listener before it serves any: once the plain port
        # answers CONNECT with a CONNACK, this broker (not another program) is up.
        while True:
            if self.process.poll() is not None:
                text = self.diagnostics()
                self.stop()
                if "in use" in text:
                    raise _PortTaken
                raise RuntimeError(f"mosquitto exited: {text}")
            if _answers_mqtt(self.port):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not listen: {self.diagnostics()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the broker (SIGTERM: it saves its persistence file) and wait."""
        stop_process(self.process)
        self.process = None

    def diagnostics(self) -> str:
        """The broker's log and stderr, for a failing test's message."""
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        if self.process is not None and self.process.poll() is not None and self.process.stderr:
            text += self.process.stderr.read().decode(errors="replace")
        return text[-4000:]


SMALL_DISK_HINT = (
    "a small disk for this test is a tmpfs mount: run the tests as root (or with "
    "CAP_SYS_ADMIN), where `mount -t tmpfs` works"
)


class SmallDisk:
    """A tmpfs of ``size`` bytes mounted at ``path`` (a real file system that fills up
    and says ENOSPC); :meth:`fill` takes what is free, :meth:`free` gives it back."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._filler = path / ".filler"
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{SMALL_DISK_HINT} ({result.stderr.strip()})")

    def fill(self, leave: int = 0) -> int:
        """Write a filler file until only ``leave`` bytes are free; returns its size."""
        written = 0
        chunk = b"\0" * 4096
        with self._filler.open("ab", buffering=0) as handle:
            while self.free_bytes() > leave + len(chunk):
                try:
                    written += handle.write(chunk)
                except OSError:
                    break
        return written

    def free(self) -> None:
        """Delete the filler file: the space is free again."""
        self._filler.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        """Bytes free on the disk now."""
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def unmount(self) -> None:
        """Unmount (lazily: a process that still has a file open cannot hold it up)."""
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
