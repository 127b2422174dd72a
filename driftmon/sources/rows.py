"""Database rows (Python values) to Arrow record batches with predictable column types.

Types follow the values, batch by batch, so a dialect's quirks (SQLite's dynamic typing,
PostgreSQL's ``numeric``) need no per-dialect mapping:

- integers → int64, floats → float64, ``Decimal`` → float64, mixed int/float → float64;
- text → string; bytes → binary; booleans → bool; dates → date32;
- datetimes → ``timestamp[us, tz=UTC]``, naive ones read in the source's ``naive_timezone``
  (same rule as ``driftmon.sources.timestamps``);
- a column that is all NULL in a batch → Arrow null type (every consumer reads it as missing);
- values Arrow cannot hold in one type (text mixed with numbers, integers beyond int64) →
  float64 when all are numbers, else their text, so a numeric feature reports the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from driftmon.sources.timestamps import to_utc


def rows_to_batch(
    names: Sequence[str], rows: Sequence[Sequence[Any]], naive_timezone: str
) -> pa.RecordBatch:
    """One record batch with ``names`` as columns from row tuples."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = [column_to_arrow(list(values), naive_timezone) for values in columns]
    return pa.RecordBatch.from_arrays(arrays, names=list(names))


def column_to_arrow(values: list[Any], naive_timezone: str) -> pa.Array:
    """One column of Python values as an Arrow array (see the module docstring)."""
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        # TypeError: Decimal NaN and ±Infinity (PostgreSQL numeric), which read as floats.
        arr = _mixed(values)
    t = arr.type
    if pa.types.is_decimal(t):
        return pc.cast(arr, pa.float64())
    if pa.types.is_timestamp(t):
        utc = to_utc(arr, naive_timezone, where="timestamp")
        return pc.cast(utc, pa.timestamp("us", "UTC"))
    if pa.types.is_integer(t) and t != pa.int64():
        return pc.cast(arr, pa.int64())
    return arr


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)


def _mixed(values: list[Any]) -> pa.Array:
    if all(v is None or _is_number(v) for v in values):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array([None if v is None else _text(v) for v in values], pa.string())


def _text(v: Any) -> str:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8", errors="replace")
    return str(v)
