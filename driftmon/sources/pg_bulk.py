"""PostgreSQL rows in bulk: binary ``COPY (SELECT …) TO STDOUT`` read straight into Arrow.

The ADBC PostgreSQL driver (``adbc-driver-postgresql``, libpq underneath) runs a query as
``COPY (query) TO STDOUT (FORMAT binary)`` and decodes the stream to Arrow record batches
in C, several times faster than fetching Python rows. PostgreSQL's COPY takes no
server-side parameters, so the query arrives with its parameters bound
client-side by psycopg (``ClientCursor.mogrify``: psycopg's own adaptation and quoting,
e.g. ``'2026-01-01 00:00:00+00:00'::timestamptz``); SQL is never formatted by hand.

Batches get the column types ``driftmon.sources.rows`` gives fetched rows: integers as
int64, floats and ``numeric`` as float64, timestamps as ``timestamp[us, tz=UTC]`` (naive
ones read in the source's ``naive_timezone``), text, bytes, booleans and dates as they
come, and a column that is all NULL in a batch as Arrow's null type. A result with a column
of any other type is not read here (``UnsupportedColumn``): the caller falls back to rows.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from driftmon.sources.timestamps import to_utc

_BATCH_HINT = "adbc.postgresql.batch_size_hint_bytes"
_MIN_HINT, _MAX_HINT = 1 << 24, 1 << 28
_BYTES_PER_VALUE = 16  # a rough width of one value, to size ADBC's batches


class UnsupportedColumn(Exception):  # noqa: N818 - a reason to fall back, not a failure
    """The result has a column the bulk path does not convert as fetched rows would."""


def unavailable_reason() -> str | None:
    """Why the bulk path cannot run here (None: it can)."""
    if importlib.util.find_spec("adbc_driver_postgresql") is None:
        return "adbc-driver-postgresql is not installed"
    return None


def bind_client_side(raw_connection: Any, sql: str, params: Mapping[str, Any]) -> str:
    """``sql`` (psycopg ``%(name)s`` style) with ``params`` bound by psycopg's quoting."""
    import psycopg

    return psycopg.ClientCursor(raw_connection).mogrify(sql, dict(params))


def copy_batches(
    conninfo: str,
    query: str,
    *,
    batch_rows: int,
    naive_timezone: str,
) -> Iterator[pa.RecordBatch]:
    """Batches of at most ``batch_rows`` rows of ``query`` read by binary COPY.

    Raises ``UnsupportedColumn`` before the first batch when a column's type is not one
    the row path would give the same values for; driver errors propagate (``adbc`` errors
    carry the SQLSTATE as ``sqlstate``).
    """
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_options(**{_BATCH_HINT: str(_hint_bytes(batch_rows))})
        cur.execute(query)
        reader = cur.fetch_record_batch()
        converters = [_converter(f, naive_timezone) for f in reader.schema]
        names = reader.schema.names
        for batch in reader:
            for start in range(0, batch.num_rows, batch_rows):
                part = batch.slice(start, batch_rows)
                arrays = [convert(part.column(i)) for i, convert in enumerate(converters)]
                yield pa.RecordBatch.from_arrays(arrays, names=names)


def _hint_bytes(batch_rows: int) -> int:
    return max(_MIN_HINT, min(_MAX_HINT, batch_rows * _BYTES_PER_VALUE * 4))


def _converter(field: pa.Field, naive_timezone: str) -> Any:
    """The function turning one column of COPY output into the row path's array."""
    t = field.type
    if isinstance(t, pa.BaseExtensionType):
        meta = field.metadata or {}
        pg_type = meta.get(b"POSTGRESQL:type", b"").decode()
        if pg_type == "numeric" and pa.types.is_string(t.storage_type):
            # PostgreSQL's text of the number (NaN and ±Infinity included) parsed
            # correctly rounded, as float(Decimal) reads it.
            return _nulls_or(lambda a: pc.cast(_numeric_text(a.storage), pa.float64()))
        raise UnsupportedColumn(f"column {field.name!r} of PostgreSQL type {pg_type or t}")
    if pa.types.is_integer(t):
        return _nulls_or(lambda a: pc.cast(a, pa.int64()))
    if pa.types.is_floating(t):
        return _nulls_or(lambda a: pc.cast(a, pa.float64()))
    if pa.types.is_timestamp(t):
        return _nulls_or(
            lambda a: pc.cast(
                to_utc(a, naive_timezone, where="timestamp"), pa.timestamp("us", "UTC")
            )
        )
    if (
        pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_date32(t)
    ):
        return _nulls_or(lambda a: a)
    raise UnsupportedColumn(f"column {field.name!r} of Arrow type {t}")


def _utc(arr: pa.Array, naive_timezone: str) -> pa.Array:
    utc = to_utc(arr, naive_timezone, where="timestamp")
    return pc.cast(utc, pa.timestamp("us", "UTC"))


def _numeric_text(text: pa.Array) -> pa.Array:
    """PostgreSQL's ``Infinity`` spelled as Arrow's float parser reads it."""
    return pc.replace_substring_regex(text, r"^(-?)Infinity$", r"\1inf")


def _nulls_or(convert: Any) -> Any:
    """``convert``, except that a column all NULL in a batch is Arrow's null type (as rows)."""

    def run(arr: pa.Array) -> pa.Array:
        if len(arr) and arr.null_count == len(arr):
            return pa.nulls(len(arr))
        return convert(arr)

    return run
