"""The Python API's inputs as a ``Source``: DataFrames, Arrow data, Arrow streams, batches.

Accepted: a pandas DataFrame, a pyarrow Table or RecordBatch, a pyarrow RecordBatchReader,
anything with ``__arrow_c_stream__`` (the Arrow PyCapsule stream interface: polars and
DuckDB results, among others), and an iterable of any of these (batches). pandas is never
imported here: a DataFrame is recognised by its type once the caller has imported pandas.

Tables and DataFrames can be read again for each pass of a reference fit. A stream (a
reader, a capsule object, an iterator) can be read only once, so when a reference needs
more passes (quantile bins) its batches are spooled to a temporary Arrow IPC file on the
first pass and read back for the next: memory stays bounded by the batch.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from driftmon.config.sources import DEFAULT_BATCH_ROWS
from driftmon.errors import SourceError
from driftmon.sources.base import Window, column_list

ACCEPTED = (
    "a pandas DataFrame, a pyarrow Table, RecordBatch or RecordBatchReader, an object with "
    "__arrow_c_stream__ (polars, DuckDB, ...), or an iterable of these"
)


def _is_dataframe(data: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(data, pd.DataFrame)


def _type_name(data: Any) -> str:
    t = type(data)
    return f"{t.__module__.split('.')[0]}.{t.__qualname__}"


class DataSource:
    """One input of ``compare`` or ``Profile`` read as a Source (see the module docstring).

    ``role`` ("reference" or "live") names it in messages; ``replay`` keeps a stream's
    batches for further passes.
    """

    def __init__(self, data: Any, role: str, *, replay: bool = False) -> None:
        self.role = role
        self._replay = replay
        self._frames: dict[str, Any] | None = None  # column name -> the DataFrame's label
        self._table: pa.Table | None = None
        self._stream: Iterator[Any] | None = None
        self._items: Iterable[Any] | None = None
        self._first: pa.RecordBatch | None = None
        self._schema: pa.Schema | None = None
        self._spool: list[Path] = []
        self._spooled = False
        self._reads = 0
        self._capsule: Any = None
        if isinstance(data, str | bytes | Mapping) or data is None:
            raise TypeError(f"{role} data: expected {ACCEPTED}, got {_type_name(data)}")
        if _is_dataframe(data):
            self._frame = data
            self._what = "pandas DataFrame"
            self._frames = self._dataframe_columns(data)
        elif isinstance(data, pa.Table):
            self._table, self._what = data, "pyarrow Table"
        elif isinstance(data, pa.RecordBatch):
            self._table, self._what = pa.Table.from_batches([data]), "pyarrow RecordBatch"
        elif isinstance(data, pa.RecordBatchReader):
            self._what = "pyarrow RecordBatchReader"
            self._schema, self._stream = data.schema, iter(data)
        elif hasattr(data, "__arrow_c_stream__"):
            # Opened on first use: a database result may run its query only then, and a
            # second query on its connection could end the stream of the first.
            self._capsule = data
            self._what = f"Arrow stream ({_type_name(data)})"
        elif isinstance(data, Iterable):
            self._what = f"batches ({_type_name(data)})"
            if iter(data) is data:  # an iterator: one pass only
                self._stream = (b for item in data for b in self._item_batches(item))
            else:
                self._items = data
        else:
            raise TypeError(f"{role} data: expected {ACCEPTED}, got {_type_name(data)}")

    # -- Source ----------------------------------------------------------------------------

    def describe(self) -> str:
        return f"{self.role} data ({self._what})"

    def fingerprint(self) -> str:
        return f"in-memory {self._what} at {id(self):x}"

    def columns(self) -> Sequence[str]:
        return list(self.schema.names)

    @property
    def schema(self) -> pa.Schema:
        """The columns and their Arrow types (a stream's from its first batch)."""
        self._open_capsule()
        if self._schema is None:
            if self._frames is not None:
                self._schema = self._dataframe_schema()
            elif self._table is not None:
                self._schema = self._table.schema
            else:
                first = self._peek()
                if first is None:
                    raise SourceError(f"{self.describe()}: no batches, so no columns to compare")
                self._schema = first.schema
        return self._schema

    def batches(
        self, columns: Sequence[str], window: Window | None = None
    ) -> Iterator[pa.RecordBatch]:
        if window is not None:
            raise ValueError("in-memory data has no time window")
        self._reads += 1
        cols = list(columns)
        if self._frames is not None:
            yield from self._dataframe_table(cols).to_batches(max_chunksize=DEFAULT_BATCH_ROWS)
        elif self._table is not None:
            yield from self._table.select(cols).to_batches(max_chunksize=DEFAULT_BATCH_ROWS)
        elif self._items is not None:
            items = (b for item in self._items for b in self._item_batches(item))
            for i, batch in enumerate(items):
                yield self._select(batch, cols, i)
        elif self._spooled:
            yield from self._read_spool(cols)
        elif self._capsule is not None:
            self._open_capsule()
            yield from self._read_stream(cols)
        elif self._reads > 1:
            raise SourceError(
                f"{self.describe()}: a stream can be read only once; pass a Table, a "
                "DataFrame or a list of batches to read it again"
            )
        else:
            yield from self._read_stream(cols)

    def table(self, columns: Sequence[str]) -> pa.Table | None:
        """``columns`` as one Table when the input is held in memory (a DataFrame, Table or
        RecordBatch); None for a stream, which is read in batches."""
        if self._frames is not None:
            return self._dataframe_table(list(columns))
        if self._table is not None:
            return self._table.select(list(columns))
        return None

    def close(self) -> None:
        """Delete the spooled batches, if any."""
        for path in self._spool:
            path.unlink(missing_ok=True)
        self._spool.clear()

    # -- pandas ----------------------------------------------------------------------------

    def _dataframe_columns(self, frame: Any) -> dict[str, Any]:
        labels: dict[str, Any] = {}
        for label in frame.columns:
            name = str(label)
            if name in labels:
                raise SourceError(f"{self.describe()}: two columns are named {name!r}")
            labels[name] = label
        return labels

    def _dataframe_schema(self) -> pa.Schema:
        try:
            schema = pa.Schema.from_pandas(self._frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise SourceError(f"{self.describe()}: cannot be read as Arrow columns: {exc}") from exc
        return schema

    def _dataframe_table(self, columns: list[str]) -> pa.Table:
        assert self._frames is not None
        if self._table is not None and set(columns) <= set(self._table.column_names):
            return self._table.select(columns)
        missing = [c for c in columns if c not in self._frames]
        if missing:
            raise SourceError(
                f"{self.describe()}: no column {missing[0]!r}; it has "
                f"{column_list(list(self._frames))}"
            )
        # Converted once and kept while this input is read: a fit reads it in passes.
        self._table = self._convert(", ".join(columns), [self._frames[c] for c in columns])
        return self._table

    def _convert(self, what: str, labels: list[Any]) -> pa.Table:
        try:
            table = pa.Table.from_pandas(self._frame, preserve_index=False, columns=labels)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise SourceError(
                f"{self.describe()}: column(s) {what} cannot be read as Arrow columns: {exc}"
            ) from exc
        return table.rename_columns([str(label) for label in labels])

    # -- streams ---------------------------------------------------------------------------

    def _item_batches(self, item: Any) -> Iterator[pa.RecordBatch]:
        """The batches of one item of an iterable input."""
        if isinstance(item, pa.RecordBatch):
            yield item
        elif isinstance(item, pa.Table):
            yield from item.to_batches(max_chunksize=DEFAULT_BATCH_ROWS)
        elif _is_dataframe(item) or hasattr(item, "__arrow_c_stream__"):
            inner = DataSource(item, self.role)
            yield from inner.batches(inner.columns())
        else:
            raise TypeError(
                f"{self.role} data: an iterable of batches holds {_type_name(item)}; expected "
                "pyarrow RecordBatches or Tables, pandas DataFrames or Arrow streams"
            )

    def _open_capsule(self) -> None:
        if self._capsule is not None:
            reader = pa.RecordBatchReader.from_stream(self._capsule)
            self._capsule = None
            self._schema, self._stream = reader.schema, iter(reader)

    def _peek(self) -> pa.RecordBatch | None:
        if self._first is None and self._stream is not None:
            self._first = next(self._stream, None)
        elif self._first is None and self._items is not None:
            for item in self._items:
                for batch in self._item_batches(item):
                    return batch
        return self._first

    def _read_stream(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        assert self._stream is not None
        writer: pa.ipc.RecordBatchStreamWriter | None = None
        schema: pa.Schema | None = None
        try:
            first = self._peek()
            self._first = None
            rest = self._stream
            for i, batch in enumerate(_chain(first, rest)):
                selected = self._select(batch, columns, i)
                if self._replay:
                    if writer is None or schema != selected.schema:
                        schema = selected.schema
                        writer = self._new_spool_file(writer, schema)
                    writer.write_batch(selected)
                yield selected
        finally:
            if writer is not None:
                writer.close()
        self._spooled = self._replay

    def _new_spool_file(
        self, writer: pa.ipc.RecordBatchStreamWriter | None, schema: pa.Schema
    ) -> pa.ipc.RecordBatchStreamWriter:
        # A new file whenever the schema changes: one IPC stream holds one schema.
        if writer is not None:
            writer.close()
        fd, name = tempfile.mkstemp(prefix="driftmon-", suffix=".arrows")
        os.close(fd)
        self._spool.append(Path(name))
        return pa.ipc.new_stream(name, schema)

    def _read_spool(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        for path in self._spool:
            # Read, not memory-mapped: a mapped file's pages would count toward the
            # process's resident memory until the whole pass is over.
            with pa.OSFile(str(path)) as source:
                for batch in pa.ipc.open_stream(source):
                    yield batch.select(columns)

    def _select(self, batch: pa.RecordBatch, columns: list[str], i: int = 0) -> pa.RecordBatch:
        names = batch.schema.names
        missing = [c for c in columns if c not in names]
        if missing:
            raise SourceError(
                f"{self.describe()}: batch {i + 1} has no column {missing[0]!r}; "
                f"it has {column_list(names)}"
            )
        return batch.select(columns)


def _chain(first: pa.RecordBatch | None, rest: Iterator[Any]) -> Iterator[pa.RecordBatch]:
    if first is not None:
        yield first
    yield from rest
