"""Programs that sandboxes and tests start: ``openssl`` for throw-away certificates,
``mosquitto`` as a broker, and how such a program is stopped. A missing program is an
error with the install hint.

Public through :mod:`wattbridge.commands` (sandboxes are sub-commands) and
:mod:`wattbridge.testing`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import attrs

MOSQUITTO_HINT = "mosquitto is not installed: apt-get install mosquitto (Debian/Ubuntu)"
OPENSSL_HINT = "openssl is not installed: apt-get install openssl"


@attrs.frozen
class TlsFiles:
    """A CA certificate and a server certificate and key it signed (for 127.0.0.1)."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path, name: str = "ca", days: int = 2) -> TlsFiles:
    """A new CA, and a server certificate for localhost and 127.0.0.1 that it signed, in
    ``folder``, valid ``days`` (made with the ``openssl`` command; RuntimeError with the
    install hint without it). Files: ``{name}.crt`` (the CA), ``{name}-server.crt`` and
    ``{name}-server.key``."""
    if shutil.which("openssl") is None:
        raise RuntimeError(OPENSSL_HINT)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca = folder / f"{name}.key", folder / f"{name}.crt"
    key, csr, cert = (
        folder / f"{name}-server.key",
        folder / "server.csr",
        folder / f"{name}-server.crt",
    )
    ext = folder / "san.ext"
    # The key usages and key identifiers: Python 3.13 verifies with VERIFY_X509_STRICT,
    # which refuses a CA without keyUsage and a certificate without an authority key id.
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid:always\n",
        encoding="utf-8",
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    valid = ["-days", str(days)]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), *valid,
        "-subj", f"/CN=wattbridge test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), *valid, "-extfile", str(ext))  # fmt: skip
    for path in (key, cert, ca):
        path.chmod(0o644)  # mosquitto may run as another user
    return TlsFiles(ca, cert, key)


def mosquitto_binary() -> str:
    """The path of ``mosquitto``; RuntimeError with the install hint if it is missing
    (``mosquitto_passwd``, from the same package, is checked too)."""
    if shutil.which("mosquitto_passwd") is None:
        raise RuntimeError(MOSQUITTO_HINT)
    for name in ("mosquitto", "/usr/sbin/mosquitto"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(MOSQUITTO_HINT)


def stop_process(process: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """Stop ``process`` as a program that saves its state on SIGTERM wants: SIGTERM,
    ``grace`` seconds to exit, then SIGKILL; its stderr pipe, if any, is closed."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stderr is not None:
        process.stderr.close()
