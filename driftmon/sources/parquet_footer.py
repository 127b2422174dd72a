"""Parquet footers parsed once per file version, not once per read.

A scheduled monitor reads the same Parquet files every few seconds; parsing a wide file's
footer (its schema and every row group's column statistics) cost about as much as decoding
the rows of a window (measured: ~8 ms for 201 columns and 8 row groups, parsed three times
per run: for the schema, the row-group filter and the reader). A parsed footer is kept per
``(path, size, mtime, inode)`` of the open file, so a file that is replaced or appended to
is parsed again, and the reader, its footer and the row groups chosen from its statistics
always come from the one file that was opened. At most ``FOOTERS_KEPT`` are held.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FOOTERS_KEPT = 64
"""Parsed footers held at once (least recently used dropped first); a wide file's footer
is tens to hundreds of KiB."""

_Key = tuple[str, int, int, int]


@dataclass(frozen=True)
class ColumnStats:
    """One column's row-group statistics, a group per position."""

    mins: pa.Array
    """Minimum of each group, as the column's type; null where the group has none."""
    maxs: pa.Array
    """Maximum of each group, likewise."""
    values: list[int | None]
    """Non-null values in each group; None where the group has no statistics."""


class Footer:
    """One version of a Parquet file's footer: its metadata and Arrow schema."""

    def __init__(self, metadata: pq.FileMetaData) -> None:
        self.metadata = metadata
        self.schema: pa.Schema = metadata.schema.to_arrow_schema()
        self._stats: dict[str, ColumnStats | None] = {}
        self._lock = threading.Lock()

    def stats(self, field: pa.Field) -> ColumnStats | None:
        """``field``'s row-group statistics, read once per footer; None when it is not a
        column of the file or its statistics cannot be read as the column's type."""
        with self._lock:
            if field.name not in self._stats:
                self._stats[field.name] = _column_stats(self.metadata, field)
            return self._stats[field.name]

    def row_groups_between(self, field: pa.Field, lo: pa.Scalar, hi: pa.Scalar) -> list[int]:
        """Row groups that may hold a value of ``field`` in ``[lo, hi)``: all but those
        whose statistics put every value outside, or that hold no value at all."""
        stats = self.stats(field)
        n = self.metadata.num_row_groups
        if stats is None:
            return list(range(n))
        try:  # null statistics (unknown) compare to null: such groups are kept
            outside = pc.or_kleene(pc.less(stats.maxs, lo), pc.greater_equal(stats.mins, hi))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return list(range(n))  # bounds not comparable with the statistics' type
        return [
            i
            for i, (out, values) in enumerate(zip(outside.to_pylist(), stats.values, strict=True))
            if values != 0 and out is not True
        ]


def _column_stats(meta: pq.FileMetaData, field: pa.Field) -> ColumnStats | None:
    paths = [meta.schema.column(j).path for j in range(meta.num_columns)]
    if field.name not in paths:
        return None
    index = paths.index(field.name)
    mins: list[object] = []
    maxs: list[object] = []
    values: list[int | None] = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(index).statistics
        known = stats is not None and stats.has_min_max
        mins.append(stats.min if known else None)
        maxs.append(stats.max if known else None)
        values.append(None if stats is None else stats.num_values)
    try:
        return ColumnStats(pa.array(mins, type=field.type), pa.array(maxs, type=field.type), values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None  # statistics Arrow cannot hold as the column's type


class _Footers:
    """A bounded, thread-safe map of parsed footers by file version."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._held: OrderedDict[_Key, Footer] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, path: str, handle: pa.NativeFile) -> Footer:
        st = os.fstat(handle.fileno())
        key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
        with self._lock:
            held = self._held.get(key)
            if held is not None:
                self._held.move_to_end(key)
                return held
        parsed = Footer(pq.read_metadata(handle))
        with self._lock:
            self._held[key] = parsed
            self._held.move_to_end(key)
            while len(self._held) > self._size:
                self._held.popitem(last=False)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self._held.clear()


_FOOTERS = _Footers(FOOTERS_KEPT)


def footer(f: Path) -> Footer:
    """``f``'s footer, parsed now or earlier for this very version of the file. Raises what
    reading the file raises (``OSError``, ``pyarrow.ArrowException``)."""
    with pa.OSFile(os.fspath(f), "r") as handle:
        return _FOOTERS.of(os.fspath(f), handle)


@contextlib.contextmanager
def reader(f: Path, **options: object) -> Iterator[tuple[Footer, pq.ParquetFile]]:
    """The open file's footer and a reader over the same file that does not parse it again
    (``options`` go to ``pyarrow.parquet.ParquetFile``)."""
    with pa.OSFile(os.fspath(f), "r") as handle:
        parsed = _FOOTERS.of(os.fspath(f), handle)
        pf = pq.ParquetFile(handle, metadata=parsed.metadata, **options)
        try:
            yield parsed, pf
        finally:
            pf.close()


def forget_footers() -> None:
    """Drop every held footer (tests; a process that wants its memory back)."""
    _FOOTERS.clear()
