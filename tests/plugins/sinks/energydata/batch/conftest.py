"""Fixtures for the energydata-batch tests: the sandbox over real HTTP, and a sink
pointed at it with quick polling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

DATASTREAMS = {
    "my/topic": "double",
    "119221": "integer",
    "demo/status": "string",
    "house/power_w": "double",
    "house/note": "string",
}


@pytest.fixture
def sandbox(wattbridge_sandbox: Callable[[str], Any]) -> Any:
    """A running EnergyData sandbox on a free loopback port."""
    return wattbridge_sandbox("energydata")


@pytest.fixture
def edk_sink(run_sink: Callable[..., Any], sandbox: Any) -> Callable[..., Any]:
    """``edk_sink(token="write", **keys)``: an energydata-batch sink harness on the sandbox
    (``token`` is a sandbox token's label, or a token the sandbox does not know)."""

    def make(token: str = "write", **keys: Any) -> Any:
        settings: dict[str, Any] = {
            "url": sandbox.url,
            "token": sandbox.tokens.get(token, token),  # a label, or a token itself
            "datastreams": DATASTREAMS,
            "poll_initial": "10ms",
            "poll_max": "100ms",
            "timeout": "5s",
        }
        settings.update(keys)
        return run_sink("energydata-batch", **settings)

    return make


class Api:
    """A plain HTTP client of the sandbox, written from the platform's documentation
    (not the sink's client), for testing the sandbox's rules on their own."""

    def __init__(self, url: str, token: str) -> None:
        self.base = url + "/api/v1"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def create(self, name: str = "test") -> requests.Response:
        return requests.post(
            f"{self.base}/import", headers=self.headers, data={"importname": name}, timeout=10
        )

    def upload(self, import_id: int, body: bytes) -> requests.Response:
        raw = requests.get(f"{self.base}/import/{import_id}/upload_url", headers=self.headers,
                           timeout=10)  # fmt: skip
        url = raw.json()["upload_url"].replace("\\", "")
        return requests.put(url, data=body, headers={"Content-Type": "application/octet-stream"},
                            timeout=10)  # fmt: skip

    def put(self, import_id: int, step: str, **body: Any) -> requests.Response:
        return requests.put(f"{self.base}/import/{import_id}/{step}", headers=self.headers,
                            json=body or None, timeout=10)  # fmt: skip

    def status(self, import_id: int) -> dict[str, Any]:
        response = requests.get(f"{self.base}/import/{import_id}", headers=self.headers, timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def fetch(self, **params: str) -> requests.Response:
        return requests.get(f"{self.base}/datastreams/values", headers=self.headers,
                            params=params, timeout=10)  # fmt: skip


@pytest.fixture
def api(sandbox: Any) -> Callable[[str], Api]:
    """``api(label)``: a documentation-faithful HTTP client with the sandbox's token ``label``."""
    return lambda label="write": Api(sandbox.url, sandbox.tokens[label])
