"""The energinet.net sandbox: a real HTTP server on loopback that behaves as the import
API is documented to, and enforces its rules.

- ``POST /apiImport/data`` with ``Authorization: Bearer <token>`` of a known sender,
  else 401; a second request of one sender within ``window`` seconds (600, the
  platform's ten minutes, unless changed) gets 429 with Retry-After, and does not
  move the window; a body over 500,000 bytes gets 413; a body that is not the
  documented JSON gets 400.
- Each meter gets its own status: 201 stored; 404 unknown meter ID; 400 a value that
  is not a finite floating-point number (``NaN``, ``Infinity``, ``1e400``, text, true),
  a timestamp that is not ISO 8601 or older than five years (the whole meter's values
  are refused then, none stored), with a message naming the value. Naive timestamps are
  read in ``timezone`` (UTC unless changed). One value per (meter, timestamp) is kept.
- No request changes how a later one is answered but through what it stored and the
  sender's window: a meter's values are stored in one transaction, rolled back if
  anything fails, and an unforeseen error is a 500 with a JSON body, never a dropped
  connection.
- Test hooks: a settable clock, fault injection (next N requests answer 500, or hang),
  forced per-meter statuses, and the stored values and request log, both through this
  object and over HTTP under ``/_sandbox/``.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import ssl
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import attrs

from wattbridge_plugins.common.sandbox import HttpSandbox, LoggedRequest, SandboxHandler
from wattbridge_plugins.sinks.energinet.sandbox.store import Store

IMPORT_PATH = "/apiImport/data"
MAX_BYTES = 500_000
"""0.5 MB read as 500,000 bytes: the stricter reading (see the README)."""
log = logging.getLogger("wattbridge.sandbox.energinet")

DEFAULT_METERS = ("7777777777", "6666666666")
"""The meter IDs of the platform's own example, so the sample config works as it is."""


@attrs.frozen
class NotANumber:
    """What the body's JSON held where a number was expected but JSON has none: the
    ``NaN``, ``Infinity`` or ``-Infinity`` that Python's encoder writes by default."""

    text: str


def five_years_before(now: datetime) -> datetime:
    """The same calendar instant five years earlier (29 February becomes the 28th)."""
    try:
        return now.replace(year=now.year - 5)
    except ValueError:
        return now.replace(year=now.year - 5, day=28)


class EnerginetSandbox(HttpSandbox):
    """A running sandbox: ``url`` (the import endpoint), ``tokens`` (sender -> token),
    ``stop()`` and test hooks; ``clock``, ``faults`` and ``log`` are the shared ones."""

    name = "energinet-sandbox"

    def __init__(
        self, host: str, port: int, state_dir: Path, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        super().__init__()
        state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(state_dir / "energinet-sandbox.sqlite")
        self.window = 600.0
        self.max_bytes = MAX_BYTES
        self.timezone = "UTC"
        self.tokens: dict[str, str] = {}
        self.meters: set[str] = set(DEFAULT_METERS)
        self.forced: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._load_tokens(state_dir / "tokens.json")
        self.serve(host, port, _Handler, ssl_context)
        self.base_url = self.url
        self.url = self.base_url + IMPORT_PATH

    # -- set-up ------------------------------------------------------------------

    def _load_tokens(self, path: Path) -> None:
        # Kept in the state folder, so a restarted sandbox accepts the same tokens.
        try:
            self.tokens = dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            self.tokens = {f"sender-{n}": secrets.token_urlsafe(24) for n in (1, 2)}
            path.write_text(json.dumps(self.tokens), encoding="utf-8")
            path.chmod(0o600)

    def add_sender(self, name: str, token: str | None = None) -> str:
        """Accept a sender with ``token`` (a new random one by default); returns it."""
        with self._lock:
            self.tokens[name] = token or secrets.token_urlsafe(24)
            return self.tokens[name]

    def add_meters(self, meter_ids: Iterable[str]) -> None:
        """Make meter IDs known (import identifiers of this import)."""
        with self._lock:
            self.meters.update(meter_ids)

    def force_status(self, meter_id: str, status: int | None) -> None:
        """Answer ``status`` for this meter (nothing stored) until set to None."""
        with self._lock:
            if status is None:
                self.forced.pop(meter_id, None)
            else:
                self.forced[meter_id] = status

    def fail_next(self, count: int, mode: str = "500", seconds: float = 30.0) -> None:
        """The next ``count`` authorised requests answer 500, or hang ``seconds`` first,
        or are stored and answered a byte every ``seconds`` (``"trickle"``): shorthands
        for ``faults.fail``, ``faults.hang`` and ``faults.trickle`` on the import path."""
        if mode == "500":
            self.faults.fail(count, 500, "POST", IMPORT_PATH)
        elif mode == "hang":
            self.faults.hang(seconds, count, "POST", IMPORT_PATH)
        elif mode == "trickle":
            self.faults.trickle(seconds, count, "POST", IMPORT_PATH)
        else:
            raise ValueError(f"mode must be '500', 'hang' or 'trickle', not {mode!r}")

    # -- what happened -------------------------------------------------------------

    def values(self, meter_id: str | None = None) -> dict[str, dict[str, float]]:
        """Stored values: meter -> {UTC timestamp (ISO 8601, Z) -> value}."""
        return self.store.values(meter_id)

    def requests(self) -> list[LoggedRequest]:
        """The import requests answered: time (sandbox clock), sender, body
        size and status."""
        return self.log.answered(IMPORT_PATH)

    def stop(self) -> None:
        """Stop serving (hanging requests end at once) and close the store."""
        super().stop()
        self.store.close()

    def _logged(self, at: float, sender: str | None, size: int, status: int) -> None:
        self.log.answer(LoggedRequest(at, "POST", IMPORT_PATH, status, size, sender))

    # -- the import endpoint ---------------------------------------------------------

    def handle_import(self, token: str | None, body_size: int, read: Any) -> tuple[int, Any]:
        """Answer one POST to the import endpoint: (HTTP status, JSON-able body)."""
        at = self.clock.now()
        wait = 0
        with self._lock:
            sender = next((s for s, t in self.tokens.items() if token and t == token), None)
            last = self._last.get(sender) if sender is not None else None
            if sender is not None and last is not None and at - last < self.window:
                wait = math.ceil(last + self.window - at)
            elif sender is not None:
                self._last[sender] = at
        # Faults meet a request once it is authorised and inside its window, as a
        # platform's own failure would: it used the window up all the same.
        fault = self.faults.take("POST", IMPORT_PATH) if sender is not None and not wait else None
        body = read()  # outside the lock: other senders' requests go on meanwhile
        if sender is None:
            self._logged(at, None, body_size, 401)
            return 401, {"error": "unknown or missing bearer token"}
        if wait:
            self._logged(at, sender, body_size, 429)
            return 429, {"error": "one request per sender every window", "retry_after": wait}
        if fault is not None:
            # Logged on arrival, so the log stays in arrival order while it hangs.
            self._logged(at, sender, body_size, fault.status)
            if fault.action == "hang":
                self.faults.wait(fault.seconds)
            return fault.status, {"error": f"injected fault ({fault.action})"}
        if body_size > self.max_bytes:
            self._logged(at, sender, body_size, 413)
            return 413, {"error": f"payload over {self.max_bytes} bytes"}
        try:
            items = _parse_payload(body)
        except ValueError as exc:
            self._logged(at, sender, body_size, 400)
            return 400, {"error": str(exc)}
        oldest = five_years_before(datetime.fromtimestamp(at, UTC))
        answer = [self._meter(sender, meter, values, oldest) for meter, values in items]
        self._logged(at, sender, body_size, 200)
        return 200, answer

    def _meter(
        self, sender: str, meter: str, values: list[Any], oldest: datetime
    ) -> dict[str, Any]:
        def verdict(status: int, message: str = "", stored: int = 0) -> dict[str, Any]:
            result: dict[str, Any] = {
                "meterID": meter,
                "number_of_values": stored,
                "status": status,
            }
            if message:
                result["message"] = message
            return result

        with self._lock:
            forced = self.forced.get(meter)
            known = meter in self.meters
        if forced is not None:
            return verdict(forced, "forced by the sandbox")
        if not known:
            return verdict(404, "unknown meterID: not an import identifier of this import")
        zone = UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)
        rows: list[tuple[str, float]] = []
        for position, pair in enumerate(values):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                return verdict(400, f"value {position}: not a [date-time, number] pair")
            stamp, number = pair
            value = _float(number)
            if value is None:
                shown = number.text if isinstance(number, NotANumber) else json.dumps(number)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                return verdict(400, f"value {position}: {shown} is not a floating-point number")
            try:
                moment = datetime.fromisoformat(stamp)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=zone)
                moment = moment.astimezone(UTC)
            except (ValueError, OverflowError):
                return verdict(400, f"value {position}: {stamp!r} is not an ISO 8601 date-time")
            if moment < oldest:
                return verdict(400, f"value {position}: {stamp} is older than five years")
            rows.append((moment.strftime("%Y-%m-%dT%H:%M:%SZ"), value))
        self.store.store(sender, meter, rows)
        return verdict(201, stored=len(rows))

    # -- test endpoints ------------------------------------------------------------

    def handle_control(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
        """The ``/_sandbox/`` endpoints: clock, faults, meters, values, requests, settings."""
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "body must be an object"}
        try:
            if path == "/_sandbox/clock":
                if method == "POST" and "advance" in data:
                    self.clock.advance(float(data["advance"]))
                elif method == "POST" and "set" in data:
                    self.clock.set(float(data["set"]))
                return 200, {"now": self.clock.now()}
            if path == "/_sandbox/faults" and method == "POST":
                self.fail_next(
                    int(data.get("count", 1)),
                    str(data.get("mode", "500")),
                    float(data.get("seconds", 30)),
                )
                return 200, {"ok": True}
            if path == "/_sandbox/meters" and method == "POST":
                self.add_meters(str(m) for m in data.get("meters", []))
                return 200, {"meters": sorted(self.meters)}
            if path == "/_sandbox/settings" and method == "POST":
                if "window" in data:
                    self.window = float(data["window"])
                if "timezone" in data:
                    ZoneInfo(str(data["timezone"]))  # refuse an unknown zone now
                    self.timezone = str(data["timezone"])
                return 200, {"window": self.window, "timezone": self.timezone}
            if path == "/_sandbox/values" and method == "GET":
                meter = parse_qs(query).get("meter", [None])[0]
                return 200, self.values(meter)
            if path == "/_sandbox/requests" and method == "GET":
                return 200, [_row(r) for r in self.requests()]
        except (TypeError, ValueError, KeyError) as exc:
            return 400, {"error": f"{type(exc).__name__}: {exc}"}
        return 404, {"error": f"no {method} {path}"}


def _row(request: LoggedRequest) -> dict[str, Any]:
    return {
        "at": request.at,
        "sender": request.sender,
        "size": request.size,
        "status": request.status,
    }


def _float(number: Any) -> float | None:
    """``number`` as the finite float the platform stores, or None if it is none."""
    if isinstance(number, bool) or not isinstance(number, int | float):
        return None
    try:
        value = float(number)  # an int beyond a double's range overflows
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _parse_payload(body: bytes) -> list[tuple[str, list[Any]]]:
    """The documented payload as (meterID, values) pairs; ValueError if not that shape.
    ``NaN`` and ``Infinity``, which are not JSON, are read as :class:`NotANumber`, so
    the meter that holds one is told so in its own status."""
    try:
        data = json.loads(body, parse_constant=NotANumber)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(data, list):
        raise ValueError("the body must be a list of meters")
    items = []
    for position, item in enumerate(data):
        if not isinstance(item, dict) or set(item) != {"meterID", "values"}:
            raise ValueError(f"item {position} must have exactly meterID and values")
        if not isinstance(item["meterID"], str) or not isinstance(item["values"], list):
            raise ValueError(f"item {position}: meterID must be a string, values a list")
        items.append((item["meterID"], item["values"]))
    return items


class _Handler(SandboxHandler):
    sandbox: EnerginetSandbox
    server_version = "energinet-sandbox"

    def _answer(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(data).encode(), headers=headers)

    def do_POST(self) -> None:
        path = urlsplit(self.path)
        if path.path == IMPORT_PATH:
            try:
                status, data = self.sandbox.handle_import(
                    self.bearer_token(), self.content_length(), self.read_body
                )
            except Exception as exc:  # a sandbox bug: say so, never drop the connection
                log.exception("the sandbox failed on a request")
                status, data = 500, {"error": f"sandbox error: {type(exc).__name__}"}
            extra = {"Retry-After": str(data["retry_after"])} if status == 429 else None
            self._answer(status, data, extra)
        elif path.path.startswith("/_sandbox/"):
            body = self.read_body()
            self._answer(*self.sandbox.handle_control("POST", path.path, path.query, body))
        else:
            self.read_body()
            self._answer(404, {"error": "not found"})

    def do_GET(self) -> None:
        path = urlsplit(self.path)
        if path.path == IMPORT_PATH:
            self._answer(405, {"error": "POST only"})
        else:
            self._answer(*self.sandbox.handle_control("GET", path.path, path.query, b""))
