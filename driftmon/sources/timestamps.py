"""Reading a timestamp column as UTC instants and keeping the rows of a window.

Every source applies the same rules, so a row lands in the same window whether it comes
from CSV, Parquet or SQL:

- timestamps with a time zone (any unit, any zone) are instants, compared in UTC;
- naive timestamps (and dates, at midnight) are wall-clock times in the source's
  ``naive_timezone`` (an IANA name, default UTC). A wall time that a daylight-saving change
  makes ambiguous (autumn: the repeated hour) or nonexistent (spring: the skipped hour) is
  mapped to the **earliest** instant it could mean: 02:30 on the autumn day is read as the
  first 02:30 (summer time), and a skipped 02:30 as the last instant before the clocks
  jumped. The mapping is a function, so consecutive windows neither skip nor repeat a row;
- ISO-8601 text, with an offset (``Z``, ``+01``, ``+0100``, ``+01:00``) is an instant;
  without one it is a naive wall time as above; digits only are epoch numbers as below;
- integers are epoch numbers (UTC) in the source's ``timestamp_unit``: seconds by default,
  or milliseconds, microseconds, nanoseconds;
- a null or empty timestamp belongs to no window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc

from driftmon.errors import ColumnError, ConfigError
from driftmon.sources.base import Window

EpochUnit = Literal["s", "ms", "us", "ns"]
"""What one step of an integer timestamp means: seconds, milli-, micro- or nanoseconds."""
EPOCH_UNITS: tuple[EpochUnit, ...] = get_args(EpochUnit)

AMBIGUOUS_RULE = "earliest"
NONEXISTENT_RULE = "earliest"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_HAS_OFFSET = r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_EPOCH_DIGITS = r"^-?\d+$"
# Real zones stay within these offsets; used for windows too long to sample hour by hour.
_WIDEST_OFFSET = timedelta(hours=16)
_MAX_SAMPLED_WINDOW = timedelta(days=366)


def check_timezone(name: str) -> str:
    """The IANA zone name, or ConfigError if the system's zone database does not know it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"naive_timezone {name!r} is not a known IANA time zone") from exc
    return name


def check_unit(unit: str) -> EpochUnit:
    """``unit`` if it is one of s, ms, us, ns; ConfigError otherwise."""
    for known in EPOCH_UNITS:
        if unit == known:
            return known
    raise ConfigError(f"timestamp_unit must be one of {', '.join(EPOCH_UNITS)}, got {unit!r}")


def check_window(window: Window) -> None:
    """Window bounds must be timezone-aware, start before end (a programming error if not)."""
    for bound in (window.start, window.end):
        if bound.tzinfo is None or bound.utcoffset() is None:
            raise ValueError(f"window bounds must be timezone-aware, got {bound!r}")
    if window.end < window.start:
        raise ValueError(f"window ends before it starts: {window}")


def is_usable_type(t: pa.DataType) -> bool:
    """Whether a column of Arrow type ``t`` can be read as timestamps by ``to_utc``."""
    if pa.types.is_dictionary(t):
        return is_usable_type(t.value_type)
    return bool(
        pa.types.is_timestamp(t)
        or pa.types.is_date(t)
        or pa.types.is_integer(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_null(t)
    )


USABLE_TYPES = "timestamps, dates, ISO-8601 text or integer epoch numbers"


def to_utc(
    values: pa.Array, naive_timezone: str, *, where: str, epoch_unit: EpochUnit = "s"
) -> pa.Array:
    """The column as ``timestamp[unit, tz=UTC]`` by the module's rules.

    ``where`` names the file or query and column for error messages; ``epoch_unit`` is
    what an integer (or digits-only text) counts since the epoch.
    Raises ColumnError for an unusable type or text that is not ISO-8601.
    """
    t = values.type
    if pa.types.is_dictionary(t):
        return to_utc(
            values.dictionary_decode(), naive_timezone, where=where, epoch_unit=epoch_unit
        )
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            return pc.cast(values, pa.timestamp(t.unit, "UTC"))
        return _naive_to_utc(values, naive_timezone)
    if pa.types.is_date(t):
        return _naive_to_utc(pc.cast(values, pa.timestamp("s")), naive_timezone)
    if pa.types.is_integer(t):
        return pc.cast(pc.cast(values, pa.int64()), pa.timestamp(epoch_unit, "UTC"))
    if pa.types.is_null(t):
        return pa.nulls(len(values), pa.timestamp("s", "UTC"))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _parse_text(values, naive_timezone, epoch_unit, where=where)
    raise ColumnError(f"{where}: expected {USABLE_TYPES}, got Arrow type {t}")


def _naive_to_utc(values: pa.Array, naive_timezone: str) -> pa.Array:
    unit = values.type.unit
    if naive_timezone == "UTC":
        return pc.cast(values, pa.timestamp(unit, "UTC"))
    local = pc.assume_timezone(
        values,
        timezone=naive_timezone,
        ambiguous=AMBIGUOUS_RULE,
        nonexistent=NONEXISTENT_RULE,
    )
    return pc.cast(local, pa.timestamp(unit, "UTC"))


def _parse_text(
    values: pa.Array, naive_timezone: str, epoch_unit: EpochUnit, *, where: str
) -> pa.Array:
    text = pc.utf8_trim_whitespace(values)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    offset = pc.fill_null(pc.match_substring_regex(text, _HAS_OFFSET), False)
    digits = pc.fill_null(pc.match_substring_regex(text, _EPOCH_DIGITS), False)
    naive = pc.and_(pc.invert(offset), pc.invert(digits))
    null_text = pa.scalar(None, text.type)
    last_error: pa.ArrowInvalid | None = None
    # Nanoseconds keep 9 fractional digits; microseconds reach dates outside 1677-2262.
    for unit in ("ns", "us"):
        try:
            aware = pc.cast(pc.if_else(offset, text, null_text), pa.timestamp(unit, "UTC"))
            local = pc.cast(pc.if_else(naive, text, null_text), pa.timestamp(unit))
            epoch = pc.cast(pc.if_else(digits, text, null_text), pa.int64())
            epoch_ts = pc.cast(
                pc.cast(epoch, pa.timestamp(epoch_unit, "UTC")), pa.timestamp(unit, "UTC")
            )
        except pa.ArrowInvalid as exc:
            last_error = exc
            continue
        return pc.coalesce(aware, _naive_to_utc(local, naive_timezone), epoch_ts)
    detail = str(last_error).split(". If these", 1)[0]
    if "out of bounds" in detail:
        raise ColumnError(
            f"{where}: epoch numbers out of range in timestamp_unit {epoch_unit!r}: {detail}"
        ) from last_error
    raise ColumnError(f"{where}: expected ISO-8601 timestamps: {detail}") from last_error


def bound(dt: datetime, unit: str) -> int:
    """``dt`` in whole ``unit`` since the epoch, rounded up, so ``ts >= bound`` is exact."""
    micros = (dt - _EPOCH) // timedelta(microseconds=1)
    if unit == "ns":
        return micros * 1_000
    per = 1_000_000 // PER_SECOND[unit]
    return -(-micros // per)


def window_mask(ts_utc: pa.Array, window: Window) -> pa.Array:
    """True where window.start <= ts < window.end; null where ts is null."""
    t = ts_utc.type
    lo = pa.scalar(bound(window.start, t.unit), t)
    hi = pa.scalar(bound(window.end, t.unit), t)
    return pc.and_(pc.greater_equal(ts_utc, lo), pc.less(ts_utc, hi))


def filter_window(
    batch: pa.RecordBatch,
    timestamp_column: str,
    window: Window,
    naive_timezone: str,
    *,
    where: str,
    epoch_unit: EpochUnit = "s",
) -> pa.RecordBatch:
    """The rows of ``batch`` in ``window``; rows with a null timestamp are dropped."""
    ts = to_utc(batch.column(timestamp_column), naive_timezone, where=where, epoch_unit=epoch_unit)
    return batch.filter(window_mask(ts, window), null_selection_behavior="drop")


def naive_superset(window: Window, naive_timezone: str) -> tuple[datetime, datetime]:
    """Naive wall-time bounds [lo, hi) that contain every naive time that maps into ``window``.

    Used to push a coarse filter down to Parquet statistics or SQL; the exact filter runs
    afterwards. A naive time v that maps to instant u satisfies u + min_offset <= v <
    u + max_offset over the offsets in force around the window.
    """
    start = window.start.astimezone(UTC)
    end = window.end.astimezone(UTC)
    if end - start > _MAX_SAMPLED_WINDOW:
        offsets: Sequence[timedelta] = (-_WIDEST_OFFSET, _WIDEST_OFFSET)
    else:
        zone = ZoneInfo(naive_timezone)
        offsets = []
        t = start - timedelta(days=1)
        while t <= end + timedelta(days=1):
            offsets.append(t.astimezone(zone).utcoffset() or timedelta(0))
            t += timedelta(hours=1)
        offsets.append(end.astimezone(zone).utcoffset() or timedelta(0))
    lo = (start + min(offsets)).replace(tzinfo=None)
    hi = (end + max(offsets) + timedelta(microseconds=1)).replace(tzinfo=None)
    return lo, hi
