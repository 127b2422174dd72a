"""CSV and Parquet files, one file or a glob, read as streamed Arrow record batches.

Memory is bounded by the batch size, not the file size: Parquet is read with
``ParquetFile.iter_batches`` without pre-buffering whole row groups, CSV with
``pyarrow.csv.open_csv`` block by block. With a window, Parquet row groups whose statistics
show no row in the window are skipped; the exact filter (``driftmon.sources.timestamps``)
then runs on every batch.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
from collections.abc import Iterator, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

if TYPE_CHECKING:  # imported where used: only time-windowed Parquet needs pyarrow.dataset
    import pyarrow.dataset as ds

from driftmon.errors import ColumnError, ConfigError, SourceError
from driftmon.sources.base import Window
from driftmon.sources.timestamps import (
    USABLE_TYPES,
    bound,
    check_timezone,
    check_window,
    filter_window,
    is_usable_type,
    naive_superset,
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
_LOCAL = pafs.LocalFileSystem()


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
        batch_rows: int = 65_536,
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
        self.format: FileFormat = fmt
        self.timestamp_column = timestamp_column
        self.naive_timezone = check_timezone(naive_timezone)
        self.batch_rows = batch_rows

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
        """sha256 over the matched files' names, sizes and modification times (ns)."""
        h = hashlib.sha256()
        for f in self.files():
            try:
                st = f.stat()
            except OSError as exc:
                raise SourceError(f"cannot stat {f}: {exc.strerror or exc}") from exc
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
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
        files = self.files()
        schemas = [self._schema(f) for f in files]
        for f, schema in zip(files, schemas, strict=True):
            for name in needed:
                if name not in schema.names:
                    raise ColumnError(
                        f"{f}: column {name!r} not found; it has {', '.join(schema.names)}"
                    )
            if ts is not None and window is not None:
                ts_type = schema.field(ts).type
                if not is_usable_type(ts_type):
                    raise ColumnError(
                        f"{f}: timestamp column {ts!r} has type {ts_type}; expected {USABLE_TYPES}"
                    )
        for f, schema in zip(files, schemas, strict=True):
            raw = (
                self._parquet_batches(f, schema, needed, window)
                if self.format == "parquet"
                else self._csv_batches(f, schema, needed, window)
            )
            for batch in _guarded(f, self.format, raw):
                if window is not None and ts is not None:
                    batch = filter_window(
                        batch, ts, window, self.naive_timezone, where=f"{f} column {ts!r}"
                    )
                if batch.num_rows:
                    yield batch.select(wanted)

    def _schema(self, f: Path) -> pa.Schema:
        try:
            if self.format == "parquet":
                schema = pq.read_schema(f)
            else:
                with pacsv.open_csv(f, read_options=_csv_read_options()) as reader:
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
        row_groups: list[int] | None = None
        if window is not None and self.timestamp_column is not None:
            row_groups = self._row_groups_in(f, schema.field(self.timestamp_column), window)
            if row_groups == []:
                return
        # No pre-buffering: it would hold whole row groups (easily 1M rows) in memory.
        with pq.ParquetFile(f, pre_buffer=False, buffer_size=_PARQUET_BUFFER_BYTES) as pf:
            yield from pf.iter_batches(
                batch_size=self.batch_rows, columns=needed, row_groups=row_groups
            )

    def _row_groups_in(self, f: Path, field: pa.Field, window: Window) -> list[int] | None:
        """Row groups whose statistics allow rows in the window (None: statistics unusable)."""
        import pyarrow.dataset as ds

        expr = self._pushdown(field, window)
        if expr is None:
            return None
        fragment = ds.ParquetFileFormat().make_fragment(os.fspath(f), filesystem=_LOCAL)
        return [rg.id for piece in fragment.split_by_row_group(expr) for rg in piece.row_groups]

    def _pushdown(self, field: pa.Field, window: Window) -> ds.Expression | None:
        """A filter that keeps at least the window's rows, on the column's own type."""
        import pyarrow.dataset as ds

        t = field.type
        col = ds.field(field.name)
        if pa.types.is_timestamp(t):
            if t.tz is None and self.naive_timezone != "UTC":
                lo_naive, hi_naive = naive_superset(window, self.naive_timezone)
                lo = bound(lo_naive.replace(tzinfo=UTC), t.unit)
                hi = bound(hi_naive.replace(tzinfo=UTC), t.unit)
            else:
                lo, hi = bound(window.start, t.unit), bound(window.end, t.unit)
            return (col >= pa.scalar(lo, t)) & (col < pa.scalar(hi, t))
        if pa.types.is_integer(t):
            lo, hi = bound(window.start, "s"), bound(window.end, "s")
            return (col >= pa.scalar(lo, pa.int64())) & (col < pa.scalar(hi, pa.int64()))
        return None

    def _csv_batches(
        self, f: Path, schema: pa.Schema, needed: list[str], window: Window | None
    ) -> Iterator[pa.RecordBatch]:
        ts = self.timestamp_column
        # Text columns are read as bytes, so a byte that is not UTF-8 past the first block
        # (which fixed the types) can't fail the read; valid blocks become text again.
        texts = [c.name for c in schema if c.name in needed and _is_text_or_bytes(c.type)]
        types: dict[str, pa.DataType] = {n: pa.binary() for n in texts}
        # Text, not Arrow's inference from the first block, so later blocks can't disagree.
        if window is not None and ts is not None:
            types[ts] = pa.string()
        convert = pacsv.ConvertOptions(include_columns=needed, column_types=types)
        with pacsv.open_csv(f, read_options=_csv_read_options(), convert_options=convert) as r:
            for block in r:
                block = _as_text_where_valid(block, [n for n in texts if n != ts])
                for start in range(0, block.num_rows, self.batch_rows):
                    yield block.slice(start, self.batch_rows)


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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, pa.ArrowException):
        return exc.strerror
    return str(exc)
