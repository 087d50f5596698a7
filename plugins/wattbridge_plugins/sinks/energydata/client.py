"""HTTP calls to EnergyData.dk's import and fetch APIs, and what their failures mean.

Every failure becomes a :class:`PlatformError` whose ``kind`` says what the caller
should do (retry later, halt on a bad token, start the import over, re-read its
status) and whose text carries the platform's own message. The token goes only into
the Authorization header of API calls: never into a URL, a log line or an error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

import requests

from wattbridge import Secret, redact
from wattbridge_plugins.common.http_deadline import DeadlineSession, Interrupted
from wattbridge_plugins.common.tls import TlsKeys

ErrorKind = Literal["retry", "halt", "gone", "conflict", "expired", "invalid"]


class PlatformError(Exception):
    """A request failed; ``kind`` says what to do and the text says why."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        status: int | None = None,
        not_before: datetime | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.kind = kind
        self.status = status
        self.not_before = not_before


def details(response: requests.Response) -> str:
    """The platform's explanation in an error answer (its JSON message and errors)."""
    text = response.text[:2000]
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300] or response.reason or "no details"
    if isinstance(data, dict):
        parts = [str(data["message"])] if data.get("message") else []
        if data.get("errors"):
            parts.append(json.dumps(data["errors"], ensure_ascii=False)[:1000])
        return "; ".join(parts) or json.dumps(data)[:300]
    return json.dumps(data)[:300]


def _retry_after(response: requests.Response) -> datetime | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.isascii() and value.isdigit():  # isdigit alone takes "²", which int() does not
        # Capped at a day: a huge number must not overflow, nor park the sink for ever.
        return datetime.now(UTC) + timedelta(seconds=min(int(value), 86_400))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def classify(response: requests.Response, what: str) -> PlatformError:
    """The error for a failed answer to ``what``."""
    status = response.status_code
    text = f"{what}: HTTP {status}: {details(response)}"
    if status == 401:
        return PlatformError("halt", f"{text} (the token is wrong or expired)", status)
    if status == 403:
        if "expired" in response.text.lower():
            return PlatformError("expired", text, status)
        return PlatformError("halt", f"{text} (the token lacks the right for this)", status)
    if status == 404:
        return PlatformError("gone", text, status)
    if status == 409:
        return PlatformError("conflict", text, status)
    if status in (400, 413, 422):
        return PlatformError("invalid", text, status)
    return PlatformError("retry", text, status, _retry_after(response))


class Client:
    """EnergyData.dk's REST API at ``url`` with a bearer ``token``, its certificate
    checked as ``tls`` says (the system's CAs by default). Each request, the upload to
    the presigned URL included, ends within ``timeout`` seconds in all; a streamed
    fetch's deadline ends once its headers are in."""

    def __init__(
        self, url: str, token: Secret, timeout: float = 30.0, tls: TlsKeys | None = None
    ) -> None:
        self.api = url.rstrip("/") + "/api/v1"
        self.timeout = timeout
        self.session = DeadlineSession(timeout)
        tls = tls or TlsKeys()
        self.verify = tls.requests_verify()
        self.cert = tls.requests_cert()
        self._auth = {"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"}

    def interrupt(self) -> None:
        """Cut a request in progress (wattbridge stops); later ones are refused."""
        self.session.interrupt()

    def close(self) -> None:
        """Cut what is in progress and close pooled connections."""
        self.session.close()

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        return self._request(method, self.api + path, what, headers=self._auth, **kwargs)

    def _request(
        self, method: str, url: str, what: str, *, detail: bool = True, **kwargs: Any
    ) -> requests.Response:
        """One request; a failure becomes a PlatformError that says what was being done.
        ``detail=False`` leaves the exception's text (which may hold the URL) out."""
        try:
            response = self.session.request(
                method, url, timeout=self.timeout, verify=self.verify, cert=self.cert, **kwargs
            )
        except Interrupted as exc:
            raise PlatformError("retry", f"{what}: {exc}") from None
        except requests.Timeout:
            raise PlatformError(
                "retry", f"{what}: no complete answer within {self.timeout:g}s"
            ) from None
        except requests.RequestException as exc:
            text = f": {exc}" if detail else ""
            raise PlatformError("retry", f"{what}: {type(exc).__name__}{text}") from None
        if response.status_code >= 400:
            raise classify(response, what)
        return response

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise PlatformError(
                "retry", f"{what}: the answer is not JSON: {response.text[:200]!r}"
            ) from None
        if not isinstance(data, dict):
            raise PlatformError("retry", f"{what}: expected a JSON object, got {data!r:.200}")
        return data

    def _record(self, response: requests.Response, what: str) -> dict[str, Any]:
        data = self._json(response, what)
        if not isinstance(data.get("id"), int) or not isinstance(data.get("status"), str):
            raise PlatformError("retry", f"{what}: the answer lacks an id or a status: {data}")
        return data

    # -- import --------------------------------------------------------------------

    def create_import(self, name: str) -> dict[str, Any]:
        """POST /import: a new import (status ``stored``)."""
        what = "creating an import"
        return self._record(self._call("POST", "/import", what, data={"importname": name}), what)

    def get_import(self, import_id: int) -> dict[str, Any]:
        """GET /import/{id}: its record, with ``status``."""
        what = f"reading import {import_id}"
        return self._record(self._call("GET", f"/import/{import_id}", what), what)

    def upload_url(self, import_id: int) -> str:
        """GET /import/{id}/upload_url: where to PUT the file."""
        what = f"getting the upload URL of import {import_id}"
        data = self._json(self._call("GET", f"/import/{import_id}/upload_url", what), what)
        url = data.get("upload_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PlatformError("retry", f"{what}: no upload_url in the answer")
        # JSON decoding already turns \/ into /; a doubly escaped one would survive it.
        return url.replace("\\/", "/")

    def put_file(self, url: str, path: Path, import_id: int) -> None:
        """PUT the file to the presigned URL (no bearer token: the URL is the credential)."""
        what = f"uploading the file of import {import_id}"
        with path.open("rb") as handle:
            # The URL's signature is not a secret of ours, but keep the query out anyway.
            self._request(
                "PUT",
                url,
                what,
                detail=False,
                data=handle,
                headers={"Content-Type": "application/octet-stream"},
            )

    def validate(self, import_id: int, errors_limit: int) -> dict[str, Any]:
        """PUT /import/{id}/validate."""
        what = f"validating import {import_id}"
        response = self._call(
            "PUT", f"/import/{import_id}/validate", what, json={"errors_limit": errors_limit}
        )
        return self._record(response, what)

    def ingest(self, import_id: int) -> dict[str, Any]:
        """PUT /import/{id}/ingest."""
        what = f"ingesting import {import_id}"
        return self._record(self._call("PUT", f"/import/{import_id}/ingest", what), what)

    # -- fetch -----------------------------------------------------------------------

    def fetch(
        self, ids: list[str], start: str | None = None, end: str | None = None
    ) -> requests.Response:
        """GET /datastreams/values: the streaming answer (latest values without bounds)."""
        params: dict[str, str] = {"ids": ",".join(ids)}
        if start is None and end is None:
            params["latest"] = "True"
        else:
            params["from"] = start or ""
            params["to"] = end or ""
        return self._call(
            "GET", "/datastreams/values", "fetching values", params=params, stream=True
        )
