"""A run as bytes and back, exactly: what the spool writes to disk.

One spool file is two lines: a header (format, monitor, window end, when it was spooled,
SHA-256 of the body) and the body (the run). The header can be read without trusting the
body; the checksum tells a damaged body (a disk error, a hand edit) from a good one, which
JSON parsing alone would not (a flipped digit still parses). Floats keep their exact value
(JSON numbers written with ``repr``), and the infinite thresholds of a feature not scored
are written as ``Infinity``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from driftmon.clock import as_utc
from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds
from driftmon.results import FeatureResult, RunResult

FORMAT = 1
"""Version of the file layout; a file of another version is reported, never guessed at."""


class SpoolFormatError(ValueError):
    """A spool file that cannot be read back as a run (truncated, damaged, foreign)."""


@dataclass(frozen=True)
class Header:
    """What a spool file says about its run without reading the run."""

    monitor: str
    window_end: datetime
    spooled_at: datetime
    sha256: str


def encode(run: RunResult, spooled_at: datetime) -> bytes:
    """The file content for ``run``: header line, body line."""
    body = json.dumps(_run_dict(run), separators=(",", ":"), ensure_ascii=False).encode()
    header = {
        "format": FORMAT,
        "monitor": run.monitor,
        "window_end": as_utc(run.window_end).isoformat(),
        "spooled_at": as_utc(spooled_at).isoformat(),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    return json.dumps(header, ensure_ascii=False).encode() + b"\n" + body + b"\n"


def decode_header(data: bytes) -> Header:
    """The header of a spool file's content; ``SpoolFormatError`` saying what is wrong."""
    line, sep, _ = data.partition(b"\n")
    if not sep:
        raise SpoolFormatError("no header line (the file is empty or cut short)")
    try:
        raw = json.loads(line)
        if not isinstance(raw, dict):
            raise TypeError(f"expected a JSON object, got {type(raw).__name__}")
        if raw.get("format") != FORMAT:
            raise ValueError(f"format {raw.get('format')!r}, expected {FORMAT}")
        return Header(
            monitor=_str(raw["monitor"]),
            window_end=_time(raw["window_end"]),
            spooled_at=_time(raw["spooled_at"]),
            sha256=_str(raw["sha256"]),
        )
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise SpoolFormatError(f"unreadable header: {_reason(exc)}") from exc


def verify(data: bytes) -> tuple[Header, bytes]:
    """The header and the checked body of a spool file's content, without building the run
    (cheap enough to check every file at start-up); ``SpoolFormatError`` if damaged."""
    header = decode_header(data)
    body = data.partition(b"\n")[2]
    if not body.endswith(b"\n"):
        raise SpoolFormatError("the run is cut short (no final newline)")
    body = body[:-1]
    digest = hashlib.sha256(body).hexdigest()
    if digest != header.sha256:
        raise SpoolFormatError(
            f"checksum mismatch: the run's SHA-256 is {digest[:12]}…, "
            f"the header says {header.sha256[:12]}…"
        )
    return header, body


def decode(data: bytes) -> tuple[Header, RunResult]:
    """The header and run of a spool file's content; ``SpoolFormatError`` if damaged."""
    header, body = verify(data)
    try:
        run = _run_from(json.loads(body))
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise SpoolFormatError(f"unreadable run: {_reason(exc)}") from exc
    if run.monitor != header.monitor or as_utc(run.window_end) != header.window_end:
        raise SpoolFormatError("the run does not match its header (monitor or window end)")
    return header, run


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return f"{type(exc).__name__}: {exc}"


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _time(value: Any) -> datetime:
    t = datetime.fromisoformat(_str(value))
    if t.tzinfo is None:
        raise ValueError(f"time {value!r} has no zone")
    return as_utc(t)


def _opt_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _run_dict(run: RunResult) -> dict[str, Any]:
    return {
        "monitor": run.monitor,
        "window_start": as_utc(run.window_start).isoformat() if run.window_start else None,
        "window_end": as_utc(run.window_end).isoformat(),
        "started_at": as_utc(run.started_at).isoformat(),
        "finished_at": as_utc(run.finished_at).isoformat(),
        "status": Status(run.status).value,
        "live_rows": int(run.live_rows),
        "reference_rows": int(run.reference_rows),
        "error": run.error,
        "message": run.message,
        "features": [_feature_dict(f) for f in run.features],
        "profile_version": run.profile_version,
    }


def _feature_dict(f: FeatureResult) -> dict[str, Any]:
    return {
        "feature": f.feature,
        "status": Status(f.status).value,
        "thresholds": {
            "warning": float(f.thresholds.warning),
            "critical": float(f.thresholds.critical),
            "policy": f.thresholds.policy,
        },
        "live_rows": int(f.live_rows),
        "missing_rows": int(f.missing_rows),
        "scores": asdict(f.scores) if f.scores is not None else None,
        "live_counts": [int(c) for c in f.live_counts],
        "bin_labels": [str(b) for b in f.bin_labels],
        "message": f.message,
        "p_value_adjusted": f.p_value_adjusted,
    }


def _run_from(d: dict[str, Any]) -> RunResult:
    return RunResult(
        monitor=_str(d["monitor"]),
        window_start=_opt_time(d["window_start"]),
        window_end=_time(d["window_end"]),
        started_at=_time(d["started_at"]),
        finished_at=_time(d["finished_at"]),
        status=Status(d["status"]),
        live_rows=int(d["live_rows"]),
        reference_rows=int(d["reference_rows"]),
        error=d["error"],
        message=d["message"],
        features=tuple(_feature_from(f) for f in d["features"]),
        # Spooled before runs recorded their profile version: drawn against the current one.
        profile_version=_opt_int(d.get("profile_version")),
    )


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    return value


def _feature_from(d: dict[str, Any]) -> FeatureResult:
    th = d["thresholds"]
    scores = d["scores"]
    return FeatureResult(
        feature=_str(d["feature"]),
        status=Status(d["status"]),
        thresholds=Thresholds(
            warning=float(th["warning"]), critical=float(th["critical"]), policy=th["policy"]
        ),
        live_rows=int(d["live_rows"]),
        missing_rows=int(d["missing_rows"]),
        scores=DriftScores(**scores) if scores is not None else None,
        live_counts=tuple(int(c) for c in d["live_counts"]),
        bin_labels=tuple(str(b) for b in d["bin_labels"]),
        message=d["message"],
        p_value_adjusted=d["p_value_adjusted"],
    )
