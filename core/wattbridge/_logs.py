"""Log set-up: plain text or one JSON object a line, with secrets redacted either way
(by the formatters; :class:`wattbridge._secret.RedactingFilter` is for handlers that
are not ours, such as Home Assistant's).

Under systemd (standard error connected to the journal, as ``$JOURNAL_STREAM`` says)
text lines carry no time of their own, the journal stamps each, and start with the
``<N>`` priority prefix journald reads, so ``journalctl -p warning`` works. With
``[wattbridge.log] file`` the log goes to that file, rotated by size.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from datetime import UTC, datetime
from typing import IO, Any

from wattbridge._secret import redact
from wattbridge._servicesettings import LogSettings

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, extras and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            data["traceback"] = redact(record.exc_text or self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message``, with tracebacks redacted too."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JournalFormatter(logging.Formatter):
    """``<priority>level logger: message`` for journald, which stamps the time itself."""

    PRIORITIES = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "INFO": 6, "DEBUG": 7}

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = self.PRIORITIES.get(record.levelname, 6)
        # A traceback's lines become entries of their own in the journal: prefix each.
        lines = redact(super().format(record)).splitlines() or [""]
        return "\n".join(f"<{priority}>{line}" for line in lines)


def under_journald(stream: IO[str]) -> bool:
    """True if ``stream`` is the journal stream systemd connected (``$JOURNAL_STREAM`` is
    ``device:inode`` of it; a child whose stderr was redirected elsewhere inherits the
    variable but not the stream, so both are compared, as systemd documents)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


class StderrHandler(logging.StreamHandler[IO[str]]):
    """Writes to whatever ``sys.stderr`` is at each record, not the one at set-up (as
    logging's own last-resort handler does): a process or a test harness that swaps
    standard error, then closes the old one, must not get "I/O operation on closed file"."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> IO[str]:
        """The current standard error."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        """Ignored: the stream is always the current standard error."""


def setup_logging(
    level: str = "info",
    fmt: str = "text",
    stream: IO[str] | None = None,
    log: LogSettings | None = None,
) -> None:
    """Configure the root logger once for the process (replacing earlier set-ups).

    ``log.file`` set: log to that file, rotated at ``log.max_size`` bytes keeping
    ``log.keep`` old files; else to ``stream`` (standard error), without timestamps
    when that is the journal.
    """
    handler: logging.Handler
    formatter: logging.Formatter
    if log is not None and log.file is not None:
        log.file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log.file, maxBytes=log.max_size, backupCount=log.keep, encoding="utf-8"
        )
        formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    else:
        out = stream or sys.stderr
        handler = logging.StreamHandler(out) if stream is not None else StderrHandler()
        if fmt == "json":
            formatter = JsonFormatter()
        elif under_journald(out):
            formatter = JournalFormatter()
        else:
            formatter = TextFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_wattbridge", False):
            root.removeHandler(old)
            old.close()
    handler._wattbridge = True  # type: ignore[union-attr]
    root.addHandler(handler)
    root.setLevel(level.upper())
