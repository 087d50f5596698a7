"""The EnergyData.dk sandbox: the batch-import and fetch APIs as documented, over real
HTTP on loopback, with a presigned-style upload URL that expires.

Start it with ``wattbridge sandbox energydata`` or :func:`start`. It serves HTTPS
when its state folder holds ``cert.pem`` and ``key.pem``. Tokens (printed, and
in ``.tokens``): ``write`` may read and write every datastream, ``read`` may only read,
``limited`` may write all but datastream 119221, ``none`` may do nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from wattbridge_plugins.common.sandbox import (
    HttpSandbox,
    LoggedRequest,
    SandboxHandler,
    server_context,
)
from wattbridge_plugins.sinks.energydata.sandbox import validation
from wattbridge_plugins.sinks.energydata.sandbox.csvrules import (
    StreamType,
    format_ms,
    instant,
    quoted_field,
)
from wattbridge_plugins.sinks.energydata.sandbox.store import Store, TokenInfo

log = logging.getLogger("wattbridge.sandbox.energydata")

API = "/api/v1"
UPLOAD_PREFIX = "/s3/import/inbox/"
_IMPORT_PATH = re.compile(rf"{API}/import/(\d+)(/upload_url|/validate|/ingest)?")
_PUBLIC_FIELDS = (
    "id", "name", "status", "user_id", "datastreams", "validated_lines", "ingested_lines",
    "min_ts", "max_ts", "validated_at", "ingested_at", "created_at", "updated_at", "errors",
)  # fmt: skip


class HttpError(Exception):
    """An error answer: status and the JSON message the platform would give."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, **extra}


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in _PUBLIC_FIELDS if k in record}


def escaped_json(data: Any) -> bytes:
    """JSON as the platform writes it: with ``/`` escaped as ``\\/`` (PHP's default)."""
    return json.dumps(data, separators=(",", ":")).replace("/", "\\/").encode()


class SandboxServer(HttpSandbox):
    """A running sandbox: ``url``, ``tokens``, ``stop()``, and handles for tests.

    Tests may declare datastreams and tokens (:meth:`add_datastream`, :meth:`add_token`),
    inject faults (``faults.fail``, ``faults.hang``, ``faults.trickle``, ``faults.hold``),
    make upload URLs expire (:meth:`expire_next_urls`, or move ``clock``), and read what
    was stored
    (:meth:`stored`, :meth:`imports`, ``log``).
    """

    name = "energydata-sandbox"

    def __init__(self, host: str, port: int, state_dir: Path, upload_lifetime: int = 7200):
        super().__init__()
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "uploads").mkdir(exist_ok=True)
        self.store = Store(state_dir / "energydata.sqlite")
        self._key = self.store.secret_key()
        self.upload_lifetime = upload_lifetime
        self._expired_urls = 0
        self._workers: list[threading.Thread] = []
        self._load_declarations()
        cert, key = state_dir / "cert.pem", state_dir / "key.pem"
        # HTTPS when given a certificate, so clients' TLS checks can be tested too.
        context = server_context(cert, key) if cert.exists() and key.exists() else None
        self.serve(host, port, _Handler, context)

    # -- set-up for tests and users -------------------------------------------

    def _load_declarations(self) -> None:
        """Datastreams and tokens declared in ``state_dir/datastreams.json``, if any:
        ``{"datastreams": [[id, topic, type], ...], "tokens": {"label": {"read": [...],
        "write": [...], "token": "..."}}}``."""
        path = self.state_dir / "datastreams.json"
        if not path.exists():
            return
        data = json.loads(path.read_text(encoding="utf-8"))
        for ds_id, topic, kind in data.get("datastreams", []):
            self.store.add_datastream(int(ds_id), str(topic), kind)
        for label, rights in data.get("tokens", {}).items():
            self.store.add_token(
                label,
                user_id=int(rights.get("user_id", 407)),
                read=rights.get("read"),
                write=rights.get("write"),
                token=rights.get("token"),
            )

    @property
    def tokens(self) -> dict[str, str]:
        """Label -> token the sandbox accepts."""
        return self.store.tokens()

    def add_datastream(self, ds_id: int, topic: str, kind: StreamType) -> None:
        """Declare a datastream."""
        self.store.add_datastream(ds_id, topic, kind)

    def add_token(self, label: str, **rights: Any) -> str:
        """Create a token (see :meth:`Store.add_token`) and return it."""
        return self.store.add_token(label, **rights)

    def expire_next_urls(self, count: int = 1) -> None:
        """Hand out the next ``count`` upload URLs already expired."""
        self._expired_urls += count

    def stored(self) -> dict[tuple[int, int], Any]:
        """Every stored value by (datastream id, epoch ms)."""
        return self.store.all_values()

    def imports(self) -> list[dict[str, Any]]:
        """Every import's record, oldest first."""
        return [_public(r) | {"uploaded": bool(r.get("_file"))} for r in self.store.imports()]

    def arrived(self, method: str, pattern: str) -> int:
        """How many requests of ``method`` whose path matches ``pattern`` arrived (whether
        or not they were answered yet)."""
        return self.log.arrived(method, pattern)

    def stop(self) -> None:
        """Stop serving, release hung requests, and close the database."""
        super().stop()
        for worker in self._workers:
            worker.join(10)
        self.store.close()

    def now(self) -> datetime:
        """The sandbox's clock as a datetime (UTC)."""
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # -- upload URLs -----------------------------------------------------------

    def _sign(self, path: str, amz_date: str, expires: str) -> str:
        message = f"{path}\n{amz_date}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def upload_url(self, import_id: int, user_id: int) -> str:
        """A presigned-style URL to PUT the import's file to."""
        issued = self.now()
        if self._expired_urls > 0:
            self._expired_urls -= 1
            issued -= timedelta(seconds=self.upload_lifetime + 60)
        amz_date = issued.strftime("%Y%m%dT%H%M%SZ")
        expires = str(self.upload_lifetime)
        path = f"{UPLOAD_PREFIX}s{user_id}/{import_id}-{uuid.uuid4()}.csv"
        credential = quote(f"edk-sandbox/{issued:%Y%m%d}/default/s3/aws4_request", safe="")
        return (
            f"{self.url}{path}?X-Amz-Content-Sha256=UNSIGNED-PAYLOAD"
            f"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}"
            f"&X-Amz-Date={amz_date}&X-Amz-SignedHeaders=host&X-Amz-Expires={expires}"
            f"&X-Amz-Signature={self._sign(path, amz_date, expires)}"
        )

    def check_upload(self, path: str, query: dict[str, list[str]]) -> int:
        """The import id a presigned URL is for; HttpError(403) if forged or expired."""
        amz_date = query.get("X-Amz-Date", [""])[0]
        expires = query.get("X-Amz-Expires", [""])[0]
        signature = query.get("X-Amz-Signature", [""])[0]
        if not hmac.compare_digest(signature, self._sign(path, amz_date, expires)):
            raise HttpError(403, "SignatureDoesNotMatch")
        issued = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if self.now() > issued + timedelta(seconds=int(expires)):
            raise HttpError(403, "AccessDenied: Request has expired")
        match = re.search(r"/(\d+)-[0-9a-f-]+\.csv$", path)
        assert match is not None  # the signature covers the path we built
        return int(match.group(1))

    # -- background stages -------------------------------------------------------

    def run_in_background(self, target: Any, *args: Any) -> None:
        """Run a validation or an ingestion on a thread of its own."""
        worker = threading.Thread(target=target, args=args, daemon=True)
        self._workers = [w for w in self._workers if w.is_alive()]
        self._workers.append(worker)
        worker.start()

    def validate(self, import_id: int, info: TokenInfo, errors_limit: int) -> None:
        """Validate an uploaded file, then move the import to ``ready`` or ``failed``."""
        record = self.store.get_import(import_id)
        assert record is not None
        try:
            outcome = validation.validate(Path(record[0]["_file"]), self.store, info, errors_limit)
        except Exception as exc:  # the sandbox itself broke: say so, as a platform would
            log.exception("validation of import %d failed", import_id)
            self.store.update_import(import_id, status="failed", errors=[{"message": str(exc)}])
            return
        self.faults.wait_for_release("validating", self.stopping)
        self.store.update_import(
            import_id,
            status="ready" if outcome.ok else "failed",
            errors=outcome.errors,
            datastreams=outcome.datastreams,
            validated_lines=outcome.validated_lines,
            min_ts=outcome.min_ts,
            max_ts=outcome.max_ts,
            validated_at=self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )

    def ingest(self, import_id: int, info: TokenInfo) -> None:
        """Store the values of a validated file, then move the import to ``done``."""
        found = self.store.get_import(import_id)
        assert found is not None
        record = found[0]
        self.faults.wait_for_release("ingesting", self.stopping)
        skip = {e["line"] for e in record.get("errors") or [] if "line" in e}
        try:
            lines = validation.ingest(Path(record["_file"]), self.store, info, skip)
        except Exception as exc:
            log.exception("ingestion of import %d failed", import_id)
            self.store.update_import(import_id, status="failed", errors=[{"message": str(exc)}])
            return
        self.store.update_import(
            import_id,
            status="done",
            ingested_lines=lines,
            ingested_at=self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )


class _Handler(SandboxHandler):
    """One request, meeting the fault rules on arrival."""

    sandbox: SandboxServer
    _pending: bytes | None = None

    # -- plumbing ------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        status = 200
        at = self.sandbox.clock.now()
        self.sandbox.log.arrive(method, path)
        try:
            rule = self.sandbox.faults.take(method, path)
            if rule is not None and rule.action == "hang" and not rule.after:
                self.sandbox.faults.wait(rule.seconds)
                if self.sandbox.faults.released.is_set():
                    # Released by clear() or stop(): this request never got through.
                    self.close_connection = True
                    return
            if rule is not None and rule.action == "fail":
                self.read_body()
                raise HttpError(rule.status, "Server Error")
            status = self._route(method, path, parse_qs(split.query, keep_blank_values=True))
            if rule is not None and rule.action == "hang" and rule.after:
                # The request was carried out; its answer is what gets lost.
                self.sandbox.faults.wait(rule.seconds)
                self.close_connection = True
                return
            self._flush_response()
        except HttpError as exc:
            status = exc.status
            self._send(exc.status, escaped_json(exc.body))
            self._flush_response()
        except (BrokenPipeError, ConnectionResetError):
            status = 499
        finally:
            size = self.content_length()
            self.sandbox.log.answer(LoggedRequest(at, method, path, status, size))

    def _flush_response(self) -> None:
        pending = getattr(self, "_pending", None)
        if pending is not None:
            self._pending = None
            self.write_body(pending)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> int:
        # Headers go now; the body waits, so a "hang after" fault can withhold it.
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._pending = body
        return status

    def _auth(self) -> TokenInfo:
        token = self.bearer_token()
        info = self.sandbox.store.token_info(token) if token else None
        if info is None:
            raise HttpError(401, "Unauthenticated.")
        return info

    # -- routes ----------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> int:
        if method == "PUT" and path.startswith(UPLOAD_PREFIX):
            return self._upload(path, query)
        if path == f"{API}/import" and method == "POST":
            return self._create(query)
        if path == f"{API}/datastreams/values" and method == "GET":
            return self._values(query)
        match = _IMPORT_PATH.fullmatch(path)
        if match is None:
            raise HttpError(404, f"The route {path.lstrip('/')} could not be found.")
        info = self._auth()
        import_id = int(match.group(1))
        found = self.sandbox.store.get_import(import_id)
        if found is None or found[0]["user_id"] != info.user_id:
            raise HttpError(404, "No query results for model [Import].")
        record = found[0]
        action = match.group(2)
        if action is None and method == "GET":
            return self._send(200, escaped_json(_public(record)))
        if action == "/upload_url" and method == "GET":
            if record["status"] != "stored":
                raise HttpError(409, f"import is {record['status']}; upload is only for stored")
            url = self.sandbox.upload_url(import_id, info.user_id)
            return self._send(200, escaped_json({"upload_url": url}))
        if action == "/validate" and method == "PUT":
            return self._validate(import_id, record, info, query)
        if action == "/ingest" and method == "PUT":
            self.read_body()
            if record["status"] != "ready":
                raise HttpError(409, f"import is {record['status']}; only a ready one is ingested")
            record = self.sandbox.store.update_import(import_id, status="ingesting")
            self.sandbox.run_in_background(self.sandbox.ingest, import_id, info)
            return self._send(200, escaped_json(_public(record)))
        raise HttpError(405, f"The {method} method is not supported for this route.")

    def _create(self, query: dict[str, list[str]]) -> int:
        info = self._auth()
        body = self.read_body().decode("utf-8", "replace")
        form = parse_qs(body, keep_blank_values=True)
        name = (query.get("importname") or form.get("importname") or [""])[0]
        if not info.writes_anything:
            raise HttpError(403, "This action is unauthorized.")
        if not name:
            raise HttpError(
                422,
                "The importname field is required.",
                errors={"importname": ["The importname field is required."]},
            )
        record = self.sandbox.store.create_import(info, name)
        return self._send(201, escaped_json(_public(record)))

    def _upload(self, path: str, query: dict[str, list[str]]) -> int:
        if self.headers.get("Authorization"):
            # S3 refuses a presigned request that also carries another credential.
            self.read_body()
            raise HttpError(400, "InvalidArgument: Only one auth mechanism allowed")
        import_id = self.sandbox.check_upload(path, query)
        length = self.headers.get("Content-Length")
        if length is None:
            raise HttpError(411, "MissingContentLength")
        target = self.sandbox.state_dir / "uploads" / f"{import_id}.csv"
        tmp = target.with_suffix(".part")
        remaining = int(length)
        with tmp.open("wb") as handle:
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    raise ConnectionResetError("upload cut short")
                handle.write(chunk)
                remaining -= len(chunk)
        tmp.replace(target)
        self.sandbox.store.update_import(import_id, _file=str(target))
        return self._send(200, b"", "application/xml")

    def _validate(
        self, import_id: int, record: dict[str, Any], info: TokenInfo, query: dict[str, list[str]]
    ) -> int:
        body = self.read_body()
        limit_text = (query.get("errors_limit") or [""])[0]
        if body.strip():
            try:
                limit_text = str(json.loads(body).get("errors_limit", limit_text or 0))
            except (ValueError, AttributeError):
                raise HttpError(400, "the body is not a JSON object") from None
        try:
            errors_limit = int(limit_text or 0)
        except ValueError:
            raise HttpError(422, "errors_limit must be an integer") from None
        if record["status"] != "stored":
            raise HttpError(409, f"import is {record['status']}; only a stored one is validated")
        if not record.get("_file"):
            raise HttpError(422, "no file was uploaded for this import")
        record = self.sandbox.store.update_import(
            import_id, status="validating", validated_lines=0, ingested_lines=0,
            datastreams=None, min_ts=None, max_ts=None, validated_at=None, ingested_at=None,
        )  # fmt: skip
        self.sandbox.run_in_background(self.sandbox.validate, import_id, info, errors_limit)
        return self._send(200, escaped_json(_public(record)))

    def _values(self, query: dict[str, list[str]]) -> int:
        info = self._auth()
        names = [n for n in ",".join(query.get("ids", [])).split(",") if n]
        if not names:
            raise HttpError(422, "The ids field is required.")
        streams = []
        for name in names:
            stream = self.sandbox.store.resolve(name)
            if stream is None:
                raise HttpError(404, f"datastream {name} not found")
            if not info.may_read(stream.id):
                raise HttpError(403, f"no read access to datastream {name}")
            streams.append(stream)
        latest = (query.get("latest") or [""])[0].lower() == "true"
        if latest:
            rows: Any = self.sandbox.store.latest([s.id for s in streams])
        else:
            bounds: list[int | None] = []
            for key in ("from", "to"):
                text = (query.get(key) or [""])[0]
                if not text:
                    raise HttpError(422, f"The {key} field is required unless latest=True.")
                try:
                    bounds.append(instant(text))
                except ValueError as exc:
                    raise HttpError(422, f"{key}: {exc}") from None
            rows = self.sandbox.store.values([s.id for s in streams], bounds[0], bounds[1])
        self._stream_csv(names, [s.id for s in streams], rows)
        return 200

    def _stream_csv(self, names: list[str], ids: list[int], rows: Any) -> None:
        """Rows of one timestamp each, chunked; a string is always quoted so that an
        empty string ("") differs from no value (an empty field)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        position = {ds: i for i, ds in enumerate(ids)}
        out = [";" + ";".join(quoted_field(n) for n in names) + "\r\n"]
        current: int | None = None
        fields = [""] * len(ids)

        def line() -> str:
            return format_ms(current or 0) + ";" + ";".join(fields) + "\r\n"

        for ts, ds, value in rows:
            if ts != current:
                if current is not None:
                    out.append(line())
                current, fields = ts, [""] * len(ids)
            if isinstance(value, str):
                fields[position[ds]] = '"' + value.replace('"', '""') + '"'
            else:
                fields[position[ds]] = repr(value)
            if len(out) >= 2000:
                self._chunk("".join(out).encode())
                out = []
        if current is not None:
            out.append(line())
        self._chunk("".join(out).encode())
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        # An empty chunk is the end of the body, so callers pass b"" once, last.
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def start(host: str, port: int, state_dir: Path) -> SandboxServer:
    """Start the sandbox in a background thread (the ``wattbridge_register_sandboxes``
    ``start`` function)."""
    return SandboxServer(host, port, state_dir)
