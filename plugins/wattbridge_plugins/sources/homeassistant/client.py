"""Home Assistant's websocket API, the few commands the source needs.

Uses the ``websockets`` library's synchronous client: a pushed source runs in a thread
of its own, so a blocking client needs no event loop to bridge, and ``close()`` from
``stop()``'s thread wakes a blocked ``recv``. websockets is well kept, has no
dependencies and implements RFC 6455 in full (ping/pong, fragmentation, TLS).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from wattbridge import Secret
from wattbridge_plugins.common.tls import TlsKeys

# get_states of a big installation is several MB in one message.
MAX_MESSAGE = 64 * 1024 * 1024

CONNECTION_ERRORS = (OSError, ConnectionClosed, InvalidHandshake, TimeoutError, EOFError)
"""What a dropped or refused connection raises: the source reconnects after these."""


class AuthError(Exception):
    """HA refused the access token. The message never holds the token."""


class ProtocolError(Exception):
    """HA answered something the websocket API does not document."""


class HomeAssistantClient:
    """One authenticated websocket connection to HA."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._next_id = 1

    @classmethod
    def connect(
        cls,
        url: str,
        token: Secret,
        *,
        tls: TlsKeys | None = None,
        timeout: timedelta = timedelta(seconds=10),
    ) -> HomeAssistantClient:
        """Connect and authenticate; raises :class:`AuthError` for a refused token.

        A wss:// URL's certificate is checked as ``tls`` says (the system's CAs by
        default); a ws:// URL ignores it."""
        context = (tls or TlsKeys()).ssl_context() if url.startswith("wss://") else None
        try:
            connection = connect(
                url,
                ssl=context,
                open_timeout=timeout.total_seconds(),
                max_size=MAX_MESSAGE,
                # HA answers pings; websockets' own keepalive notices dead peers.
                ping_interval=None,
                compression=None,
            ).__enter__()  # the connection's lifetime is this object's, not a with block
        except InvalidURI as exc:
            raise ProtocolError(f"bad url {url!r}: {exc}") from None
        client = cls(connection)
        try:
            client._authenticate(token, timeout.total_seconds())
        except BaseException:
            connection.close()
            raise
        return client

    def _authenticate(self, token: Secret, timeout: float) -> None:
        first = self.receive(timeout)
        if first.get("type") != "auth_required":
            raise ProtocolError(f"expected auth_required, got {first.get('type')!r}")
        self.send({"type": "auth", "access_token": token.reveal()})
        answer = self.receive(timeout)
        kind = answer.get("type")
        if kind == "auth_invalid":
            # HA's own message says what was wrong; it never repeats the token.
            reason = str(answer.get("message", ""))[:200]
            raise AuthError(
                f"Home Assistant refused the access token ({reason or 'auth_invalid'}); "
                "make a long-lived access token in your HA profile and configure it"
            )
        if kind != "auth_ok":
            raise ProtocolError(f"expected auth_ok, got {kind!r}")
        self.ha_version = str(answer.get("ha_version", "?"))

    def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message."""
        self.connection.send(json.dumps(message))

    def command(self, message: dict[str, Any]) -> int:
        """Send a command with the next id; returns the id to match its result."""
        command_id = self._next_id
        self._next_id += 1
        self.send({"id": command_id, **message})
        return command_id

    def call(self, message: dict[str, Any], timeout: float) -> Any:
        """Send a command and return its result, skipping other messages (events of a
        subscription); raises :class:`ProtocolError` if HA refuses it and TimeoutError
        if no answer comes within ``timeout`` seconds. For one-off commands: messages
        that arrive meanwhile are dropped."""
        wanted = self.command(message)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer to {message['type']} in {timeout:.0f}s")
            for answer in self.messages(left):
                if isinstance(answer, dict) and answer.get("id") == wanted:
                    if answer.get("success") is not True:
                        raise ProtocolError(
                            f"{message['type']} was refused: {answer.get('error')!r:.200}"
                        )
                    return answer.get("result")

    def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message as a dict (HA may coalesce several into a JSON list)."""
        raw = self.connection.recv(timeout)
        message = json.loads(raw)
        if not isinstance(message, dict):
            raise ProtocolError(f"expected a JSON object, got {type(message).__name__}")
        return message

    def messages(self, timeout: float | None = None) -> Iterator[Any]:
        """Messages as they come; yields each item of a coalesced list separately.

        Raises TimeoutError when nothing came within ``timeout``; does not parse
        beyond JSON, so odd messages reach the caller to be counted.
        """
        raw = self.connection.recv(timeout)
        try:
            message = json.loads(raw)
        except ValueError:
            yield raw  # not JSON: the caller counts it as malformed
            return
        if isinstance(message, list):
            yield from message
        else:
            yield message

    def ping(self, timeout: float) -> None:
        """Ping HA and wait for its pong; raises TimeoutError if none comes."""
        pong = self.connection.ping()
        if not pong.wait(timeout):
            raise TimeoutError(f"Home Assistant did not answer a ping within {timeout:.0f}s")

    def close(self) -> None:
        """Close the connection (safe from another thread; wakes a blocked receive)."""
        self.connection.close()
