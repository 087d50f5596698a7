"""A real Home Assistant for the source's tests, started on loopback from the HA venv.

The venv is made by homeassistant_component/scripts/setup-test-venv.sh; its path comes
from WATTBRIDGE_HA_VENV (default: .venv-ha at the repository root). A missing venv
fails the tests with the command that makes it: these tests are never skipped.

The long-lived access token is made the way HA makes one: a refresh token of type
``long_lived_access_token`` in HA's auth storage, written before start, and an HS256
JWT signed with its key (HA's ``async_create_access_token``). Onboarding through the
HTTP API would need the frontend's and person's Python packages, which the test venv
does not have.

One stand-in: HA treats ``frontend`` as critical and goes into recovery mode (no API)
when it cannot load, and the frontend needs ~40 MB of packages that have nothing to do
with the API. The config folder therefore holds a custom ``frontend`` integration that
only reports success. Everything the source talks to (auth, websocket_api, the state
machine, the REST API that sets states) is HA's own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from wattbridge.testing import free_port, make_certificates

REPO = Path(__file__).resolve().parents[4]
SETUP_SCRIPT = "homeassistant_component/scripts/setup-test-venv.sh"


def ha_venv() -> Path:
    """The HA venv, or a test failure that says how to make it."""
    venv = Path(os.environ.get("WATTBRIDGE_HA_VENV", REPO / ".venv-ha"))
    if not (venv / "bin" / "hass").exists():
        pytest.fail(
            f"no Home Assistant in {venv}: run `{SETUP_SCRIPT} {venv}` "
            "(or set WATTBRIDGE_HA_VENV to a venv made by it)",
            pytrace=False,
        )
    return venv


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_jwt(claims: dict[str, Any], key: str) -> str:
    """An HS256 JSON Web Token, as PyJWT makes it for HA."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def write_auth_storage(config_dir: Path) -> str:
    """Write HA's auth storage with an owner and a long-lived token; return the token."""
    user_id, token_id = uuid.uuid4().hex, uuid.uuid4().hex
    jwt_key = secrets.token_hex(64)
    ten_years = 10 * 365 * 24 * 3600
    data = {
        "users": [
            {
                "id": user_id,
                "group_ids": ["system-admin"],
                "is_owner": True,
                "is_active": True,
                "name": "wattbridge-test",
                "system_generated": False,
                "local_only": False,
            }
        ],
        "groups": [
            {"id": "system-admin", "name": "Administrators"},
            {"id": "system-users", "name": "Users"},
            {"id": "system-read-only", "name": "Read Only"},
        ],
        "credentials": [],
        "refresh_tokens": [
            {
                "id": token_id,
                "user_id": user_id,
                "client_id": None,
                "client_name": "wattbridge tests",
                "client_icon": None,
                "token_type": "long_lived_access_token",
                "created_at": datetime.now(UTC).isoformat(),
                "access_token_expiration": float(ten_years),
                "token": secrets.token_hex(64),
                "jwt_key": jwt_key,
                "last_used_at": None,
                "last_used_ip": None,
                "expire_at": None,
                "credential_id": None,
                "version": "2024.3.3",
            }
        ],
    }
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    document = {"version": 1, "minor_version": 1, "key": "auth", "data": data}
    (storage / "auth").write_text(json.dumps(document), encoding="utf-8")
    now = int(time.time())
    return hs256_jwt({"iss": token_id, "iat": now, "exp": now + ten_years}, jwt_key)


FRONTEND_STANDIN = {
    "manifest.json": json.dumps(
        {"domain": "frontend", "name": "Frontend stand-in for tests", "version": "0.0.0"}
    ),
    "__init__.py": (
        '"""Stands in for HA\'s frontend (UI only), which needs packages the test venv lacks."""\n'
        "async def async_setup(hass, config):\n    return True\n"
    ),
}


class HomeAssistant:
    """A Home Assistant process on a loopback port, with a long-lived token."""

    def __init__(self, venv: Path, config_dir: Path, *, tls: bool = False) -> None:
        self.venv = venv
        self.config_dir = config_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        config_dir.mkdir(parents=True, exist_ok=True)
        http = f"http:\n  server_host: 127.0.0.1\n  server_port: {self.port}\n"
        self.certificate: Path | None = None  # the CA that signed HA's certificate
        if tls:
            files = make_certificates(config_dir / "tls")
            self.certificate = files.ca
            http += f"  ssl_certificate: {files.cert}\n  ssl_key: {files.key}\n"
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        (config_dir / "configuration.yaml").write_text(
            "homeassistant:\n  name: wattbridge-test\n  time_zone: UTC\n  unit_system: metric\n"
            "  latitude: 55.7\n  longitude: 12.5\n  elevation: 0\n"
            + http
            + "api:\n"
            # The recorder (committing at once, so a test need not wait for its
            # interval) and the history API: the source reads a gap's changes from them.
            + "recorder:\n  commit_interval: 0\nhistory:\n",
            encoding="utf-8",
        )
        standin = config_dir / "custom_components" / "frontend"
        standin.mkdir(parents=True, exist_ok=True)
        for name, text in FRONTEND_STANDIN.items():
            (standin / name).write_text(text, encoding="utf-8")
        self.token = write_auth_storage(config_dir)
        self.log_path = config_dir / "hass-stdout.log"

    @property
    def verify(self) -> str | bool:
        """What requests should trust: the test certificate, for an HA with TLS."""
        return str(self.certificate) if self.certificate else True

    @property
    def headers(self) -> dict[str, str]:
        """The REST API's bearer header."""
        return {"Authorization": f"Bearer {self.token}"}

    def start(self, timeout: float = 120.0) -> None:
        """Start HA and wait until its REST API answers with the token."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(self.venv / "bin" / "hass"), "-c", str(self.config_dir), "--skip-pip"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"hass exited with {self.process.returncode}; see {self.log_path}")
            try:
                answer = requests.get(
                    f"{self.url}/api/", headers=self.headers, timeout=2, verify=self.verify
                )
                if answer.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        pytest.fail(f"Home Assistant did not start in {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        """Stop HA as a service manager would (SIGTERM), killing it if it hangs."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def websocket(self) -> Any:
        """An authenticated websocket client (the source's own) for commands the REST
        API lacks, such as importing statistics; close it after use."""
        from wattbridge import Secret
        from wattbridge_plugins.sources.homeassistant.client import HomeAssistantClient
        from wattbridge_plugins.sources.homeassistant.config import HomeAssistantConfig

        config = HomeAssistantConfig(
            url=self.url,
            token=Secret(self.token),
            ca_file=str(self.certificate) if self.certificate else None,
        )
        return HomeAssistantClient.connect(config.url, config.token, tls=config)

    def set_state(self, entity_id: str, state: str, **attributes: Any) -> dict[str, Any]:
        """Set a state through the REST API; returns HA's state object."""
        answer = requests.post(
            f"{self.url}/api/states/{entity_id}",
            headers=self.headers,
            json={"state": state, "attributes": attributes},
            timeout=10,
            verify=self.verify,
        )
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture(scope="module")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HomeAssistant]:
    """One HA for the test module (its start-up takes seconds)."""
    ha = HomeAssistant(ha_venv(), tmp_path_factory.mktemp("ha-config"))
    ha.start()
    try:
        yield ha
    finally:
        ha.stop()


@pytest.fixture
def start_home_assistant(tmp_path: Path) -> Iterator[Callable[..., HomeAssistant]]:
    """``start_home_assistant(tls=True)``: another HA of the test's own, stopped after it."""
    started: list[HomeAssistant] = []

    def start(**options: Any) -> HomeAssistant:
        ha = HomeAssistant(ha_venv(), tmp_path / f"ha-{len(started)}", **options)
        started.append(ha)
        ha.start()
        return ha

    yield start
    for ha in started:
        ha.stop()


def jsonl_config(ha: HomeAssistant, out: Path, entities: str) -> str:
    """A wattbridge config: the source ``ha`` reading ``entities`` (a glob) from ``ha``,
    routed to a jsonl sink writing ``out``, with quick reconnects and flushes."""
    return f"""
[sources.ha]
plugin = "homeassistant"
url = "{ha.url}"
token = "{ha.token}"
include_entities = ["{entities}"]
reconnect_initial = "200ms"
reconnect_max = "1s"

[sinks.out]
plugin = "jsonl"
path = "{out}"
flush_interval = "100ms"

[[routes]]
from = "ha"
to = "out"
"""


@pytest.fixture
def source_config() -> Callable[[HomeAssistant, Path, str], str]:
    """:func:`jsonl_config`, for the tests of this folder."""
    return jsonl_config
