"""The connection and stream keys both NATS plugins share, and the names they make:
subject tokens and KV key parts. No nats-py here: a config loads without the extra."""

from __future__ import annotations

import re
import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs

from wattbridge import Secret, refuse_plain_text
from wattbridge_plugins.common.tls import TlsKeys

_STREAM_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_SUBJECT_TOKEN = re.compile(r"^[^\s.*>]+$")
# Characters a stream name may keep in a subject token; the rest are percent-encoded,
# so "house.main kwh" can never split a subject or act as a wildcard.
_TOKEN_SAFE = "/-_:=+@"


def _check_servers(_instance: Any, _attribute: Any, servers: list[str]) -> None:
    if not servers:
        raise ValueError("servers is empty: name at least one, e.g. nats://127.0.0.1:4222")
    for server in servers:
        url = urllib.parse.urlsplit(server)
        if url.scheme not in ("nats", "tls") or not url.hostname:
            raise ValueError(f"servers: {server!r} is not nats://HOST:PORT or tls://HOST:PORT")
        if url.username or url.password:
            raise ValueError(
                "servers: put the user and password in `user` and `password`, not the URL"
            )


PLAIN_TEXT = "the readings and any credentials"
"""What goes in clear text over nats:// (for the refusal and the warning)."""


def plain_text_hosts(servers: list[str]) -> list[str]:
    """The hosts of the nats:// (not tls://) servers."""
    return [
        urllib.parse.urlsplit(s).hostname or ""
        for s in servers
        if urllib.parse.urlsplit(s).scheme == "nats"
    ]


def _readings_encrypted(instance: Any, _attribute: Any, _insecure: bool) -> None:
    # Readings are the customers' data: plain text to another machine needs saying so,
    # with or without credentials.
    for host in plain_text_hosts(instance.servers):
        refuse_plain_text(instance, "servers", host, PLAIN_TEXT)


def _check_stream_name(_instance: Any, _attribute: Any, name: str) -> None:
    if not _STREAM_NAME.match(name):
        raise ValueError(f"stream {name!r}: use letters, digits, '-' and '_' only")


def _check_subjects(_instance: Any, _attribute: Any, subjects: list[str]) -> None:
    if not subjects:
        raise ValueError("stream_subjects is empty")
    for subject in subjects:
        check_subject_filter(subject)


def check_subject_filter(subject: str) -> None:
    """Raise ValueError unless ``subject`` is a NATS subject or filter (``*``, ``>``)."""
    tokens = subject.split(".")
    for position, token in enumerate(tokens):
        if token in ("*", ">"):
            if token == ">" and position != len(tokens) - 1:
                raise ValueError(f"subject {subject!r}: '>' must be the last token")
            continue
        if not _SUBJECT_TOKEN.match(token):
            raise ValueError(
                f"subject {subject!r}: tokens are separated by '.', may not be empty and "
                "may not hold spaces, '*' or '>'"
            )


@attrs.frozen(kw_only=True)
class NatsKeys(TlsKeys):
    """The connection and stream keys of both NATS plugins (and the TLS keys)."""

    servers: list[str] = attrs.field(
        factory=lambda: ["nats://127.0.0.1:4222"], validator=_check_servers
    )
    """The cluster's servers; the client fails over between them."""
    user: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    """An authorization token, instead of user and password."""
    creds_file: Path | None = None
    """A NATS credentials file (JWT and NKey seed), for a decentralised-auth account."""
    stream: str = attrs.field(default="WATTBRIDGE", validator=_check_stream_name)
    """The JetStream stream readings are stored in (made if missing)."""
    stream_subjects: list[str] = attrs.field(
        factory=lambda: ["wattbridge.>"], validator=_check_subjects
    )
    """The subjects the stream holds, when this process makes it."""
    replicas: int = attrs.field(
        default=1, validator=[attrs.validators.ge(1), attrs.validators.le(5)]
    )
    """Copies of the stream (and the KV buckets) across the cluster: 3 for a 3-node one."""
    duplicate_window: timedelta = attrs.field(
        default=timedelta(minutes=2), validator=attrs.validators.gt(timedelta(0))
    )
    """How long the stream remembers a message id (a repeat within it is dropped)."""
    max_age: timedelta = attrs.field(
        default=timedelta(days=7), validator=attrs.validators.gt(timedelta(0))
    )
    """How long the stream keeps a message (acknowledged or not), when this process makes it."""
    timeout: timedelta = attrs.field(
        default=timedelta(seconds=10), validator=attrs.validators.gt(timedelta(0))
    )
    """How long one request (a publish's ack, a fetch) may take."""
    insecure: bool = attrs.field(default=False, validator=_readings_encrypted)
    """Allow nats:// (clear text) to a server on another machine; refused without it,
    warned with it."""

    @property
    def uses_tls(self) -> bool:
        """True when any server is a tls:// one."""
        return any(s.startswith("tls://") for s in self.servers)


def subject_token(text: str) -> str:
    """``text`` as one subject token: '.', '*', '>', '%', spaces and other characters a
    token cannot hold are percent-encoded (the payload keeps the real name)."""
    return _escape(text, _TOKEN_SAFE, "%")


def key_token(text: str) -> str:
    """``text`` as a JetStream KV key part (ASCII letters, digits, '-', '_', '=')."""
    return _escape(text, "-_", "=")


def _escape(text: str, safe: str, mark: str) -> str:
    """``text`` with every character but ASCII letters, digits and ``safe`` written as
    ``mark`` and two hex digits per UTF-8 byte ("_" for empty text)."""
    out = []
    for char in text:
        if char.isascii() and (char.isalnum() or char in safe):
            out.append(char)
        else:
            out += [f"{mark}{byte:02X}" for byte in char.encode("utf-8", "surrogatepass")]
    return "".join(out) or "_"
