"""CSV and Parquet files, one file or a glob, read as streamed Arrow record batches.

Memory is bounded by the batch size, not the file size: Parquet is read with
``ParquetFile.iter_batches`` without pre-buffering whole row groups, CSV with
``pyarrow.csv.open_csv`` block by block. With a window, Parquet row groups whose statistics
show no row in the window are skipped; the exact filter (``driftmon.sources.timestamps``)
then runs on every batch.

Missing values in CSV: an empty field is always missing, in every column, text included;
so is a field equal to one of the null markers (by default pyarrow's list, ``NA``, ``NULL``,
``NaN``, ``N/A`` and the like; ``null_values`` replaces it), quoted or not. A Parquet file
stores missing values as nulls and needs no markers.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from driftmon.errors import ColumnError, ConfigError, SourceError
from driftmon.sources.base import Window, column_list
from driftmon.sources.parquet_footer import Footer, footer, reader
from driftmon.sources.timespan import TimeSpan, merge_spans, span_of
from driftmon.sources.timestamps import (
    USABLE_TYPES,
    EpochUnit,
    bound,
    check_timezone,
    check_unit,
    check_window,
    filter_window,
    is_usable_type,
    naive_superset,
    to_utc,
)

FileFormat = Literal["csv", "parquet"]

_SUFFIXES: tuple[tuple[str, FileFormat], ...] = (
    (".csv", "csv"),
    (".csv.gz", "csv"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
)
_CSV_BLOCK_BYTES = 1 << 20
_PARQUET_BUFFER_BYTES = 1 << 20

DEFAULT_NULL_VALUES: tuple[str, ...] = tuple(pacsv.ConvertOptions().null_values)
"""pyarrow.csv's default null markers, the empty field among them."""


def infer_format(path: str | Path) -> FileFormat | None:
    """The format a file name's extension implies, or None."""
    name = os.fspath(path).lower()
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    return None


class FileSource:
    """Rows from a CSV or Parquet file, or from every file a glob matches (sorted by name)."""

    def __init__(
        self,
        path: str | Path,
        *,
        format: FileFormat | None = None,
        timestamp_column: str | None = None,
        naive_timezone: str = "UTC",
        timestamp_unit: EpochUnit = "s",
        batch_rows: int = 65_536,
        null_values: Sequence[str] | None = None,
    ) -> None:
        self.pattern = os.fspath(path)
        fmt = format or infer_format(self.pattern)
        if fmt not in ("csv", "parquet"):
            raise ConfigError(
                f"cannot tell the format of {self.pattern!r} from its extension "
                "(.csv, .csv.gz, .parquet, .pq): set format to csv or parquet"
            )
        if batch_rows < 1:
            raise ConfigError(f"batch_rows must be at least 1, got {batch_rows}")
        if null_values is not None and fmt != "csv":
            raise ConfigError(
                f"{self.pattern}: null_values applies to CSV files only; "
                "Parquet stores missing values as nulls"
            )
        self.format: FileFormat = fmt
        self.timestamp_column = timestamp_column
        self.naive_timezone = check_timezone(naive_timezone)
        self.timestamp_unit = check_unit(timestamp_unit)
        self.batch_rows = batch_rows
        self.null_values = csv_null_values(null_values)

    def __repr__(self) -> str:
        return f"FileSource({self.pattern!r}, format={self.format!r})"

    def describe(self) -> str:
        return f"{self.format} {self.pattern}"

    def close(self) -> None:
        """Nothing to release; here so every source can be closed the same way."""

    def files(self) -> list[Path]:
        """The files the path or glob matches now, sorted; SourceError when there are none."""
        if not any(ch in self.pattern for ch in "*?["):
            p = Path(self.pattern)
            if not p.is_file():
                raise SourceError(f"{self.format} file not found: {self.pattern}")
            return [p]
        matched = sorted(
            Path(m) for m in glob.glob(self.pattern, recursive=True) if os.path.isfile(m)
        )
        if not matched:
            raise SourceError(f"no {self.format} files match {self.pattern}")
        return matched

    def fingerprint(self) -> str:
        """sha256 over the matched files' names, sizes and modification times (ns), and for
        CSV the null markers."""
        h = hashlib.sha256()
        for f in self.files():
            try:
                st = f.stat()
            except OSError as exc:
                raise SourceError(f"cannot stat {f}: {exc.strerror or exc}") from exc
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        if self.format == "csv":  # the markers decide which values are missing
            h.update(json.dumps(["null_values", *self.null_values]).encode())
        return h.hexdigest()

    def columns(self) -> list[str]:
        """Column names of the first matched file."""
        return list(self._schema(self.files()[0]).names)

    def batches(
        self, columns: Sequence[str], window: Window | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Batches of ``columns`` (at most ``batch_rows`` rows each; empty ones are skipped).

        Every file is checked for the columns before the first batch is read.
        """
        wanted = list(dict.fromkeys(columns))
        needed = list(wanted)
        ts = self.timestamp_column
        if window is not None:
            check_window(window)
            if ts is None:
                raise SourceError(f"{self.describe()}: a window needs a timestamp_column")
            if ts not in needed:
                needed.append(ts)
        checked = self._checked(needed, timestamps=window is not None)
        for f, schema in checked:
            raw = (
                self._parquet_batches(f, schema, needed, window)
                if self.format == "parquet"
                else self._csv_batches(f, schema, needed, timestamps=window is not None)
            )
            for batch in _guarded(f, self.format, raw):
                if window is not None and ts is not None:
                    batch = filter_window(
                        batch,
                        ts,
                        window,
                        self.naive_timezone,
                        where=f"{f} column {ts!r}",
                        epoch_unit=self.timestamp_unit,
                    )
                if batch.num_rows:
                    yield batch.select(wanted)

    def timestamp_span(self) -> TimeSpan | None:
        """Earliest and latest instant of ``timestamp_column`` over every file (None: no
        timestamps). Reads Parquet row-group statistics where they cover integer or
        timestamp columns, otherwise only that one column."""
        ts = self.timestamp_column
        if ts is None:
            raise SourceError(f"{self.describe()}: a time range needs a timestamp_column")
        spans: list[TimeSpan | None] = []
        for f, schema in self._checked([ts], timestamps=True):
            field = schema.field(ts)
            unit = self.timestamp_unit if _is_integer(field.type) else None
            if self.format == "parquet":
                stats = _parquet_stats(f, field)
                if stats is not None:
                    extremes, rows = stats
                    span = span_of(self._to_utc(f, extremes), unit)
                    if span is not None:  # the extremes stand for ``rows`` values
                        spans.append(TimeSpan(span.first_us, span.last_us, rows, unit))
                    continue
                raw = self._parquet_batches(f, schema, [ts], None)
            else:
                raw = self._csv_batches(f, schema, [ts], timestamps=True)
            for batch in _guarded(f, self.format, raw):
                spans.append(span_of(self._to_utc(f, batch.column(ts)), unit))
        return merge_spans(spans)

    def _to_utc(self, f: Path, values: pa.Array) -> pa.Array:
        where = f"{f} column {self.timestamp_column!r}"
        return to_utc(values, self.naive_timezone, where=where, epoch_unit=self.timestamp_unit)

    def _checked(self, needed: list[str], *, timestamps: bool) -> list[tuple[Path, pa.Schema]]:
        """Every matched file with its schema, once each has the ``needed`` columns (and a
        usable timestamp column, when ``timestamps``)."""
        files = self.files()
        checked = [(f, self._schema(f)) for f in files]
        ts = self.timestamp_column
        for f, schema in checked:
            names = set(schema.names)  # a fresh list at every access: once per file
            for name in needed:
                if name not in names:
                    raise ColumnError(
                        f"{f}: column {name!r} not found; it has {column_list(schema.names)}"
                    )
            if ts is not None and timestamps:
                ts_type = schema.field(ts).type
                if not is_usable_type(ts_type):
                    raise ColumnError(
                        f"{f}: timestamp column {ts!r} has type {ts_type}; expected {USABLE_TYPES}"
                    )
        return checked

    def _schema(self, f: Path) -> pa.Schema:
        try:
            if self.format == "parquet":
                schema = footer(f).schema
            else:
                with pacsv.open_csv(
                    f, read_options=_csv_read_options(), convert_options=self._csv_convert()
                ) as reader:
                    schema = reader.schema
            schema.names  # noqa: B018 - decodes the names: fail here, not at every later use
        except (pa.ArrowException, OSError) as exc:
            raise SourceError(f"cannot read {self.format} file {f}: {_reason(exc)}") from exc
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"cannot read {self.format} file {f}: its column names are not UTF-8 text "
                f"(byte 0x{exc.object[exc.start]:02x})"
            ) from exc
        return schema

    def _parquet_batches(
        self, f: Path, schema: pa.Schema, needed: list[str], window: Window | None
    ) -> Iterator[pa.RecordBatch]:
        # Text as Arrow dictionaries, as Parquet mostly stores it: counting categories is
        # then a count of small integer codes per batch, not a hash of every row's string.
        # No pre-buffering: it would hold whole row groups (easily 1M rows) in memory.
        texts = [
            name
            for name in needed
            if name != self.timestamp_column and _is_text(schema.field(name).type)
        ]
        with reader(
            f, pre_buffer=False, buffer_size=_PARQUET_BUFFER_BYTES, read_dictionary=texts
        ) as (parsed, pf):
            row_groups = self._row_groups_in(parsed, window) if window is not None else None
            if row_groups == []:
                return
            yield from pf.iter_batches(
                batch_size=self.batch_rows, columns=needed, row_groups=row_groups
            )

    def _row_groups_in(self, parsed: Footer, window: Window) -> list[int] | None:
        """Row groups whose statistics allow rows in the window (None: all of them)."""
        ts = self.timestamp_column
        if ts is None or ts not in parsed.schema.names:
            return None
        field = parsed.schema.field(ts)
        bounds = self._pushdown(field, window)
        return None if bounds is None else parsed.row_groups_between(field, *bounds)

    def _pushdown(self, field: pa.Field, window: Window) -> tuple[pa.Scalar, pa.Scalar] | None:
        """Bounds ``[lo, hi)`` on the column's own type that hold at least the window's rows
        (for choosing row groups by their statistics; the exact filter runs afterwards)."""
        t = field.type
        if pa.types.is_timestamp(t):
            if t.tz is None and self.naive_timezone != "UTC":
                lo_naive, hi_naive = naive_superset(window, self.naive_timezone)
                lo = bound(lo_naive.replace(tzinfo=UTC), t.unit)
                hi = bound(hi_naive.replace(tzinfo=UTC), t.unit)
            else:
                lo, hi = bound(window.start, t.unit), bound(window.end, t.unit)
            return pa.scalar(lo, t), pa.scalar(hi, t)
        if pa.types.is_integer(t):
            unit = self.timestamp_unit
            lo, hi = bound(window.start, unit), bound(window.end, unit)
            return pa.scalar(lo, pa.int64()), pa.scalar(hi, pa.int64())
        return None

    def _csv_batches(
        self, f: Path, schema: pa.Schema, needed: list[str], *, timestamps: bool
    ) -> Iterator[pa.RecordBatch]:
        """Batches of ``needed``; with ``timestamps``, the timestamp column as text."""
        ts = self.timestamp_column
        # Text columns are read as bytes, so a byte that is not UTF-8 past the first block
        # (which fixed the types) can't fail the read; valid blocks become text again.
        texts = [c.name for c in schema if c.name in needed and _is_text_or_bytes(c.type)]
        types: dict[str, pa.DataType] = {n: pa.binary() for n in texts}
        # Text, not Arrow's inference from the first block, so later blocks can't disagree.
        if timestamps and ts is not None:
            types[ts] = pa.string()
        convert = self._csv_convert(include_columns=needed, column_types=types)
        with pacsv.open_csv(f, read_options=_csv_read_options(), convert_options=convert) as r:
            for block in r:
                block = _as_text_where_valid(block, [n for n in texts if n != ts])
                for start in range(0, block.num_rows, self.batch_rows):
                    yield block.slice(start, self.batch_rows)

    def _csv_convert(self, **options: Any) -> pacsv.ConvertOptions:
        """Arrow's CSV conversion with the source's null markers, for every column type."""
        return pacsv.ConvertOptions(
            null_values=list(self.null_values),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            **options,
        )


def _is_integer(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_integer(t.value_type)
    return bool(pa.types.is_integer(t))


def _parquet_stats(f: Path, field: pa.Field) -> tuple[pa.Array, int] | None:
    """The row groups' minima and maxima of an integer, timestamp or date column, as an
    array of the column's type, and its count of non-null values; None when some row group
    with values has no statistics."""
    t = field.type
    if not (pa.types.is_integer(t) or pa.types.is_timestamp(t) or pa.types.is_date(t)):
        return None
    try:
        stats = footer(f).stats(field)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"cannot read parquet file {f}: {_reason(exc)}") from exc
    if stats is None:
        return None
    groups = [i for i, v in enumerate(stats.values) if v != 0]
    if any(
        stats.values[i] is None or not (stats.mins[i].is_valid and stats.maxs[i].is_valid)
        for i in groups
    ):
        return None
    taken = pa.array(groups, pa.int64())
    extremes = pa.concat_arrays([stats.mins.take(taken), stats.maxs.take(taken)])
    return extremes, sum(stats.values[i] or 0 for i in groups)


def csv_null_values(given: Sequence[str] | None) -> tuple[str, ...]:
    """The CSV null markers: pyarrow's default list, or the empty field plus ``given``."""
    if given is None:
        return DEFAULT_NULL_VALUES
    return tuple(dict.fromkeys(["", *given]))


def _is_text_or_bytes(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_binary(t))


def _as_text_where_valid(batch: pa.RecordBatch, columns: list[str]) -> pa.RecordBatch:
    """``columns`` (bytes) as text where they are valid UTF-8; the histograms decode the rest."""
    for name in columns:
        i = batch.schema.get_field_index(name)
        if i < 0:  # a name the file repeats: left as bytes
            continue
        with contextlib.suppress(pa.ArrowInvalid):
            batch = batch.set_column(i, name, pc.cast(batch.column(i), pa.string()))
    return batch


def _csv_read_options() -> pacsv.ReadOptions:
    # Single-threaded parsing reports the row of a parse error, at no cost in speed here.
    return pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES, use_threads=False)


def _guarded(f: Path, fmt: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Re-raise Arrow and I/O errors met while streaming as SourceError naming the file."""
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise SourceError(f"cannot read {fmt} file {f}: {_reason(exc)}") from exc
        yield batch


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, pa.ArrowException):
        return exc.strerror
    return str(exc)
