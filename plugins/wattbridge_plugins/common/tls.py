"""The TLS keys every plugin that talks to a server spells the same way.

A plugin's config class inherits :class:`TlsKeys` and so gets ``verify_tls``,
``ca_file``, ``cert_file`` and ``key_file``, checked when the config loads, and the
three forms the libraries want: an :class:`ssl.SSLContext` (paho-mqtt, websockets) and
requests' ``verify`` and ``cert`` arguments. The first wave's spellings (``verify``,
``ca_bundle``) are refused with a hint naming the new key.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from wattbridge import exitcodes
from wattbridge.commands import CommandFailed


def _readable_file(_instance: Any, attribute: Any, path: Path | None) -> None:
    if path is not None and not path.is_file():
        raise ValueError(f"{attribute.name} {str(path)!r} is not a file")


def _key_needs_cert(instance: Any, _attribute: Any, path: Path | None) -> None:
    _readable_file(instance, _attribute, path)
    if path is not None and instance.cert_file is None:
        raise ValueError("key_file needs cert_file (the client certificate it belongs to)")


@attrs.frozen(kw_only=True)
class TlsKeys:
    """TLS keys of a plugin's config table; inherit it to get all four.

    Verification is on unless ``verify_tls = false``; ``ca_file`` replaces the
    system's trusted CAs (a private broker or a company proxy's CA); ``cert_file`` and
    ``key_file`` present a client certificate, for servers that ask for one.
    """

    renamed_keys: ClassVar[Mapping[str, str]] = {"verify": "verify_tls", "ca_bundle": "ca_file"}
    """Keys of earlier versions: the config loader names their new spelling."""

    verify_tls: bool = True
    """Check the server's certificate and host name. Turn off only for a test server."""
    ca_file: Path | None = attrs.field(default=None, validator=_readable_file)
    """CA certificates (PEM) to trust instead of the system's."""
    cert_file: Path | None = attrs.field(default=None, validator=_readable_file)
    """A client certificate (PEM), for a server that asks for one."""
    key_file: Path | None = attrs.field(default=None, validator=_key_needs_cert)
    """The client certificate's private key, if it is not in ``cert_file``."""

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that checks the server as these keys say."""
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            # Without a key file, load_cert_chain reads the key from the certificate file.
            key = str(self.key_file) if self.key_file is not None else None
            context.load_cert_chain(str(self.cert_file), key)
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def requests_verify(self) -> bool | str:
        """requests' ``verify``: passed with every request, since a session's own
        ``verify`` loses to the ``REQUESTS_CA_BUNDLE`` environment variable."""
        if not self.verify_tls:
            return False
        return str(self.ca_file) if self.ca_file is not None else True

    def requests_cert(self) -> str | tuple[str, str] | None:
        """requests' ``cert``: the client certificate, with its key when apart."""
        if self.cert_file is None:
            return None
        if self.key_file is None:
            return str(self.cert_file)
        return (str(self.cert_file), str(self.key_file))


def tls_from_arguments(args: Any, base: TlsKeys | None = None) -> TlsKeys:
    """The TLS keys of a command's ``--ca-file`` option over ``base`` (a sink's own).

    Raises :class:`wattbridge.commands.CommandFailed` naming the option when the file
    is not there.
    """
    base = base or TlsKeys()
    if args.ca_file is None:
        return base
    try:
        return attrs.evolve(base, ca_file=args.ca_file)
    except ValueError as exc:
        raise CommandFailed(f"--ca-file: {exc}", exitcodes.USAGE) from None
