"""Structured logs: one line per event, key=value text or JSON, secrets scrubbed."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from driftmon.secrets import scrub

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED}


class TextFormatter(logging.Formatter):
    """``2026-11-27T12:00:00Z INFO run.finished monitor=example rows=1000 ...``"""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = [ts, record.levelname, scrub(record.getMessage())]
        for key, value in _fields(record).items():
            text = scrub(str(value))
            if not text or any(c.isspace() or c in '"=' for c in text):
                text = json.dumps(text, ensure_ascii=False)
            parts.append(f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + scrub(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "event": scrub(record.getMessage()),
        }
        for key, value in _fields(record).items():
            doc[key] = _scrubbed(value)
        if record.exc_info:
            doc["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False, default=str)


def _scrubbed(value: Any) -> Any:
    """``value`` for JSON with secrets scrubbed from every string in it, however nested."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrubbed(v) for v in value]
    return scrub(str(value))  # strings, and anything else (exceptions, paths) as its text


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Send driftmon's logs to stderr in the chosen format (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("driftmon")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for noisy in ("apscheduler", "alembic"):
        lg = logging.getLogger(noisy)
        lg.handlers[:] = [handler]
        lg.setLevel(max(logging.WARNING, logging.getLevelName(level)))
        lg.propagate = False
