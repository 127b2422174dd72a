"""Parquet footers parsed once per file version; row groups chosen from their statistics."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.sources import FileSource, Window, parquet_footer
from driftmon.sources.parquet_footer import footer, forget_footers, reader

START = datetime(2026, 3, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _table(seconds: list[int | None], type_: pa.DataType) -> pa.Table:
    if pa.types.is_integer(type_):
        values: list[object] = [
            None if s is None else (int((START - EPOCH).total_seconds()) + s) for s in seconds
        ]
    else:
        values = [None if s is None else START + timedelta(seconds=s) for s in seconds]
        if type_.tz is None:
            values = [
                None if s is None else (START + timedelta(seconds=s)).replace(tzinfo=None)
                for s in seconds
            ]
    return pa.table({"ts": pa.array(values, type_), "x": pa.array(range(len(seconds)), pa.int64())})


def _oracle(f: Path, lo: pa.Scalar, hi: pa.Scalar) -> list[int]:
    """Arrow's dataset layer choosing the row groups with the same bounds."""
    fragment = ds.ParquetFileFormat().make_fragment(os.fspath(f), filesystem=pafs.LocalFileSystem())
    expr = (ds.field("ts") >= lo) & (ds.field("ts") < hi)
    return [rg.id for piece in fragment.split_by_row_group(expr) for rg in piece.row_groups]


TYPES = st.sampled_from(
    [
        pa.timestamp("s"),
        pa.timestamp("ms", tz="UTC"),
        pa.timestamp("us", tz="UTC"),
        pa.timestamp("us"),
        pa.timestamp("ns", tz="UTC"),
        pa.timestamp("ns"),
        pa.int64(),
        pa.int32(),
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    seconds=st.lists(st.one_of(st.none(), st.integers(0, 600)), min_size=1, max_size=40),
    group=st.integers(1, 12),
    type_=TYPES,
    start=st.integers(-30, 630),
    length=st.integers(0, 200),
    statistics=st.booleans(),
)
def test_row_groups_match_arrows_dataset_filter(
    tmp_path_factory: pytest.TempPathFactory,
    seconds: list[int | None],
    group: int,
    type_: pa.DataType,
    start: int,
    length: int,
    statistics: bool,
) -> None:
    """Whatever the type, unit, nulls and statistics: every group with a row in the bounds
    is kept (none is lost), and none that Arrow's dataset layer would skip is read."""
    f = tmp_path_factory.mktemp("rg") / "d.parquet"
    table = _table(seconds, type_)
    pq.write_table(table, f, row_group_size=group, write_statistics=statistics)
    if pa.types.is_integer(type_):
        lo = pa.scalar(int((START - EPOCH).total_seconds()) + start, pa.int64())
        hi = pa.scalar(lo.as_py() + length, pa.int64())
    else:
        base = START if type_.tz else START.replace(tzinfo=None)
        lo = pa.scalar(base + timedelta(seconds=start), type_)
        hi = pa.scalar(base + timedelta(seconds=start + length), type_)
    parsed = footer(f)
    kept = parsed.row_groups_between(parsed.schema.field("ts"), lo, hi)
    inside = [s is not None and start <= s < start + length for s in seconds]
    needed = sorted({i // group for i, hit in enumerate(inside) if hit})
    assert set(needed) <= set(kept)
    assert set(kept) <= set(_oracle(f, lo, hi))
    assert kept == sorted(kept)


def test_a_window_reads_only_its_groups_and_every_row_of_them(tmp_path: Path) -> None:
    """End to end through FileSource: the window's rows, in the configured epoch unit."""
    f = tmp_path / "d.parquet"
    pq.write_table(_table(list(range(0, 600, 10)), pa.timestamp("ms", tz="UTC")), f, 6)
    source = FileSource(f, timestamp_column="ts")
    window = Window(START + timedelta(seconds=125), START + timedelta(seconds=245))
    rows = sum(b.num_rows for b in source.batches(["x"], window))
    assert rows == 12  # 130, 140, ..., 240
    assert source._row_groups_in(footer(f), window) == [2, 3, 4]


def test_the_footer_is_parsed_once_per_version_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_footers()
    parsed: list[object] = []
    real = pq.read_metadata

    def counting(where: object, *args: object, **kwargs: object) -> pq.FileMetaData:
        parsed.append(where)
        return real(where, *args, **kwargs)  # type: ignore[arg-type,unused-ignore]

    monkeypatch.setattr(pq, "read_metadata", counting)
    f = tmp_path / "d.parquet"
    pq.write_table(_table([1, 2, 3], pa.timestamp("us", tz="UTC")), f)
    source = FileSource(f, timestamp_column="ts")
    window = Window(START, START + timedelta(seconds=10))
    for _ in range(3):
        assert source.columns() == ["ts", "x"]
        assert sum(b.num_rows for b in source.batches(["x"], window)) == 3
    assert len(parsed) == 1

    # Replaced under the same name, with another column: read again, nothing stale.
    table = _table([1, 2, 3, 4], pa.timestamp("us", tz="UTC")).append_column("y", pa.array([1] * 4))
    pq.write_table(table, f.with_suffix(".tmp"))
    os.replace(f.with_suffix(".tmp"), f)
    assert source.columns() == ["ts", "x", "y"]
    assert sum(b.num_rows for b in source.batches(["y"], window)) == 4
    assert len(parsed) == 2


def test_footers_held_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forget_footers()
    monkeypatch.setattr(parquet_footer, "_FOOTERS", parquet_footer._Footers(2))
    files = []
    for i in range(4):
        files.append(tmp_path / f"{i}.parquet")
        pq.write_table(_table([i], pa.timestamp("us", tz="UTC")), files[-1])
        footer(files[-1])
    assert len(parquet_footer._FOOTERS._held) == 2
    assert {k[0] for k in parquet_footer._FOOTERS._held} == {os.fspath(f) for f in files[2:]}


def test_a_file_that_is_not_parquet_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "d.parquet"
    f.write_text("not parquet")
    with pytest.raises(pa.ArrowInvalid):
        footer(f)
    with pytest.raises(pa.ArrowInvalid), reader(f):
        pass
