"""The time range a source's timestamps span, and the message of a window that is empty.

A window that comes back empty from a source that has rows usually means the timestamps
are read wrongly (epoch milliseconds read as seconds land in the year 57970) or the data
is old. The runner and ``driftmon validate`` then say which range the source spans, next
to the window that was read, so the mismatch is plain to see.

Instants are kept as whole microseconds since the epoch in Python integers, so a
timestamp far outside what ``datetime`` holds (years beyond 9999) can still be shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from driftmon.sources.base import Window

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}
_MICROS_PER_YEAR = 365.2425 * 86_400 * 1_000_000


@dataclass(frozen=True)
class TimeSpan:
    """Earliest and latest timestamp of a source's rows, and how many rows have one.

    ``first_us``/``last_us`` are microseconds since 1970-01-01 UTC (nanoseconds are
    truncated); ``epoch_unit`` is the unit integer timestamps were read in, None when the
    column holds dates, times or text.
    """

    first_us: int
    last_us: int
    rows: int
    epoch_unit: str | None = None

    def describe(self) -> str:
        """``<first> to <last>`` in UTC ISO form."""
        return f"{format_instant(self.first_us)} to {format_instant(self.last_us)}"


def format_instant(micros: int) -> str:
    """Microseconds since the epoch as UTC ISO-8601 (``Z``); an approximate year outside
    the years 1-9999, which ``datetime`` cannot hold."""
    try:
        dt = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        year = 1970 + micros / _MICROS_PER_YEAR
        return f"about the year {year:,.0f} ({micros // 1_000_000:,} s since 1970)"
    return dt.isoformat().replace("+00:00", "Z")


def span_of(ts_utc: pa.Array | pa.ChunkedArray, epoch_unit: str | None = None) -> TimeSpan | None:
    """The span of a ``timestamp[unit, tz=UTC]`` column (nulls ignored); None if all null."""
    rows = len(ts_utc) - ts_utc.null_count
    if rows == 0:
        return None
    unit = ts_utc.type.unit
    raw = pc.min_max(pc.cast(ts_utc, pa.int64()))
    lo, hi = raw["min"].as_py(), raw["max"].as_py()
    per = _MICROS_PER_UNIT[unit]
    if unit == "ns":
        return TimeSpan(lo // 1_000, hi // 1_000, rows, epoch_unit)
    return TimeSpan(lo * per, hi * per, rows, epoch_unit)


def merge_spans(spans: Iterable[TimeSpan | None]) -> TimeSpan | None:
    """One span covering all of ``spans`` (None entries are skipped)."""
    merged: TimeSpan | None = None
    for s in spans:
        if s is None:
            continue
        if merged is None:
            merged = s
            continue
        merged = TimeSpan(
            min(merged.first_us, s.first_us),
            max(merged.last_us, s.last_us),
            merged.rows + s.rows,
            merged.epoch_unit or s.epoch_unit,
        )
    return merged


def format_window(window: Window) -> str:
    """``[start, end)`` in UTC ISO form."""
    start = window.start.astimezone(UTC).isoformat().replace("+00:00", "Z")
    end = window.end.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return f"[{start}, {end})"


def empty_window_message(window: Window, column: str, span: TimeSpan | None) -> str:
    """Why a window is empty, for the run's message: the window read and the source's span."""
    read = f"no rows in the window {format_window(window)}"
    if span is None:
        return f"{read}; the source has no rows with a timestamp in column {column!r}"
    message = (
        f"{read}, but the source's {span.rows:,} timestamp(s) in column {column!r} "
        f"span {span.describe()}"
    )
    if span.epoch_unit is not None:
        message += (
            f" (integers read as epoch {_UNIT_NAMES[span.epoch_unit]}; "
            "set timestamp_unit if they count another unit)"
        )
    return message


_UNIT_NAMES = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
}
