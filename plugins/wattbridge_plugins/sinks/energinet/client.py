"""HTTP to the import endpoint, and reading its answer.

The answer to a stored request is a list with one status per meter, as documented::

    [{"meterID": "7777777777", "number_of_values": 2, "status": 201}, ...]

:func:`parse_statuses` accepts exactly that shape (a meter ID may come back as a
number; a ``message`` or ``error`` text is kept when present) and raises
:class:`BadResponse` for anything else, never another exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import attrs
import requests
import requests.auth

from wattbridge import Secret, is_loopback_url
from wattbridge_plugins.common.http_deadline import DeadlineSession, Interrupted
from wattbridge_plugins.common.tls import TlsKeys


class BadResponse(ValueError):
    """The answer is not the documented per-meter list."""


@attrs.frozen
class MeterStatus:
    """The platform's verdict on one meter's values in a request."""

    meter_id: str
    status: int
    number_of_values: int | None = None
    message: str = ""


def parse_statuses(body: bytes) -> dict[str, MeterStatus]:
    """Meter ID -> its status, from a response body; :class:`BadResponse` otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadResponse(f"the answer is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, list):
        raise BadResponse(f"the answer is a {type(data).__name__}, not a list of meters")
    statuses: dict[str, MeterStatus] = {}
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise BadResponse(f"item {position} of the answer is not an object")
        meter = item.get("meterID")
        status = item.get("status")
        count = item.get("number_of_values")
        if isinstance(meter, bool) or not isinstance(meter, str | int):
            raise BadResponse(f"item {position} has no meterID")
        if isinstance(status, bool) or not isinstance(status, int):
            raise BadResponse(f"item {position} has no integer status")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            count = None  # only informative; a strange count does not spoil the statuses
        text = item.get("message", item.get("error", ""))
        message = text[:500] if isinstance(text, str) else ""
        statuses[str(meter)] = MeterStatus(str(meter), status, count, message)
    return statuses


@attrs.frozen
class Answer:
    """An HTTP answer: its status, body and Retry-After (seconds, or None)."""

    status: int
    body: bytes
    retry_after: float | None = None


class TransportError(Exception):
    """No answer came (connection refused, timeout, TLS failure); the text is token-free."""


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


class _Bearer(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``, added as the request is sent."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        return request


class Client:
    """Posts bodies to the import endpoint with one sender's token at a time; each
    request ends within ``timeout`` seconds in all (a trickled answer included)."""

    def __init__(self, url: str, *, timeout: float, tls: TlsKeys | None = None) -> None:
        self.url = url
        self.timeout = timeout
        tls = tls or TlsKeys()
        self.verify = tls.requests_verify()
        self.cert = tls.requests_cert()
        # The environment's proxy settings apply (HTTPS_PROXY, as a company network may
        # need); the token goes as an auth object, which .netrc cannot replace.
        self.session = DeadlineSession(timeout)
        # ... but a loopback sandbox is never reached through a proxy.
        self.session.trust_env = not is_loopback_url(url)

    def post(self, body: bytes, token: Secret, now: float) -> Answer:
        """POST ``body``; raises :class:`TransportError` when no answer came."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            response = self.session.post(
                self.url,
                data=body,
                headers=headers,
                auth=_Bearer(token),
                timeout=self.timeout,
                verify=self.verify,
                cert=self.cert,
            )
        except Interrupted as exc:
            raise TransportError(str(exc)) from None
        except requests.Timeout:
            raise TransportError(f"no complete answer within {self.timeout:g}s") from None
        except requests.RequestException as exc:
            # Name the kind only: some exception texts repeat the request they failed on.
            raise TransportError(f"{type(exc).__name__} posting to {self.url}") from None
        return Answer(response.status_code, response.content, _retry_after(response.headers, now))

    def interrupt(self) -> None:
        """Cut a request in progress (wattbridge stops); later ones are refused."""
        self.session.interrupt()

    def close(self) -> None:
        """Cut what is in progress and close the connection pool."""
        self.session.close()
