"""Every accepted input gives the same report; streams are read once, spooled for passes."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import driftmon
from driftmon.api.data import DataSource
from driftmon.errors import SourceError

Frames = tuple[pd.DataFrame, pd.DataFrame]


class CapsuleOnly:
    """Exposes nothing but the Arrow PyCapsule stream interface (as polars, DuckDB do)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self._table.__arrow_c_stream__(requested_schema)


def _table(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def _chunks(df: pd.DataFrame, rows: int) -> list[pd.DataFrame]:
    return [df.iloc[i : i + rows] for i in range(0, len(df), rows)]


INPUTS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "DataFrame": lambda df: df,
    "Table": _table,
    "RecordBatch": lambda df: _table(df).combine_chunks().to_batches()[0],
    "RecordBatchReader": lambda df: pa.RecordBatchReader.from_batches(
        _table(df).schema, _table(df).to_batches(max_chunksize=700)
    ),
    "capsule object": lambda df: CapsuleOnly(_table(df)),
    "list of batches": lambda df: _table(df).to_batches(max_chunksize=333),
    "generator of batches": lambda df: iter(_table(df).to_batches(max_chunksize=333)),
    "list of DataFrames": lambda df: _chunks(df, 900),
    "generator of Tables": lambda df: (_table(c) for c in _chunks(df, 500)),
}


def _features(report: driftmon.Report) -> list[dict[str, Any]]:
    return list(report.to_dict()["features"])


@pytest.mark.parametrize("kind", list(INPUTS))
def test_every_input_kind_gives_the_dataframes_numbers(drifted: Frames, kind: str) -> None:
    ref, live = drifted
    expected = _features(driftmon.compare(ref, live))
    convert = INPUTS[kind]
    assert _features(driftmon.compare(convert(ref), convert(live))) == expected


def test_a_duckdb_result_is_read_through_its_capsule(drifted: Frames) -> None:
    duckdb = pytest.importorskip("duckdb")
    ref, live = drifted
    con = duckdb.connect()
    con.register("ref", ref)
    con.register("live", live)
    report = driftmon.compare(con.sql("SELECT * FROM ref"), con.sql("SELECT * FROM live"))
    assert _features(report) == _features(driftmon.compare(ref, live))


def test_a_one_shot_reference_is_spooled_then_deleted(
    drifted: Frames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quantile bins take several passes; a generator is read once, then its spool file."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ref, live = drifted
    seen: list[int] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in _table(ref).to_batches(max_chunksize=500):
            seen.append(batch.num_rows)
            yield batch

    source = DataSource(batches(), "reference", replay=True)
    first = list(source.batches(["x"]))
    assert list(tmp_path.glob("driftmon-*.arrows"))  # spooled while read
    again = list(source.batches(["x"]))
    assert sum(seen) == len(ref)  # the generator was consumed once
    assert pa.Table.from_batches(again).equals(pa.Table.from_batches(first))
    source.close()
    assert not list(tmp_path.glob("driftmon-*.arrows"))
    report = driftmon.Profile.fit(iter(_table(ref).to_batches(500))).compare(live)
    assert _features(report) == _features(driftmon.compare(ref, live))
    assert not list(tmp_path.glob("driftmon-*.arrows"))


def test_batches_whose_types_differ_are_spooled_per_type(same: Frames) -> None:
    """An int batch, then a float one: one spool file per schema, the fit unifies them."""
    ref, live = same
    first = _table(ref.iloc[:2000].assign(x=(ref["x"].iloc[:2000] * 100).round().astype("int64")))
    second = _table(ref.iloc[2000:].assign(x=ref["x"].iloc[2000:] * 100))
    whole = pd.concat([first.to_pandas(), second.to_pandas()])
    streamed = driftmon.Profile.fit(iter([first, second]), ["x"]).compare(
        live.assign(x=live["x"] * 100)
    )
    table = driftmon.Profile.fit(whole.assign(x=whole["x"].astype("float64")), ["x"]).compare(
        live.assign(x=live["x"] * 100)
    )
    assert _features(streamed)[0]["kl_divergence"] == _features(table)[0]["kl_divergence"]


def test_a_live_stream_can_be_read_only_once(same: Frames) -> None:
    _, live = same
    source = DataSource(iter(_table(live).to_batches(100)), "live")
    assert sum(b.num_rows for b in source.batches(["x"])) == len(live)
    with pytest.raises(SourceError, match="a stream can be read only once"):
        list(source.batches(["x"]))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"x": [1, 2]}, "got builtins.dict"),
        ("data.csv", "got builtins.str"),
        (None, "got builtins.NoneType"),
        (42, "got builtins.int"),
    ],
)
def test_unsupported_inputs_are_a_type_error(same: Frames, data: Any, fragment: str) -> None:
    ref, _ = same
    with pytest.raises(TypeError, match=f"live data: expected a pandas DataFrame.*{fragment}"):
        driftmon.compare(ref, data)


def test_an_iterable_of_something_else_is_a_type_error(same: Frames) -> None:
    ref, _ = same
    with pytest.raises(TypeError, match=r"an iterable of batches holds builtins\.int"):
        driftmon.compare(ref, [1, 2, 3])


def test_a_batch_without_a_column_is_named(same: Frames) -> None:
    ref, live = same
    batches = [_table(live.iloc[:500]), _table(live.iloc[500:].drop(columns="x"))]
    with pytest.raises(SourceError, match=r"live data .*: batch 2 has no column 'x'; it has n, c"):
        driftmon.compare(ref, iter(batches), ["x"])


def test_an_empty_stream_has_no_columns(same: Frames) -> None:
    ref, _ = same
    with pytest.raises(SourceError, match=r"live data \(batches .*\): no batches"):
        driftmon.compare(ref, iter([]))


def test_dataframe_labels_that_are_not_strings_become_their_text(same: Frames) -> None:
    ref, live = same
    numbered = ref[["x"]].set_axis([0], axis=1)
    report = driftmon.compare(numbered, live[["x"]].set_axis([0], axis=1))
    assert report.to_dict()["features"][0]["feature"] == "0"


def test_a_dataframe_column_arrow_cannot_read_is_named(same: Frames) -> None:
    ref, live = same
    mixed = live.assign(c=pd.Series([1, "a"] * (len(live) // 2), dtype=object))
    with pytest.raises(
        SourceError, match="live data \\(pandas DataFrame\\): cannot be read as Arrow"
    ):
        driftmon.compare(ref, mixed)


def test_whole_columns_and_streamed_passes_fit_the_same_profile_and_errors(same: Frames) -> None:
    """A DataFrame is fitted column by column, a stream in passes: the same bins, counts and
    reasons for the features that cannot be fitted."""
    ref, _ = same
    ref = ref.assign(text=["a", "b"] * (len(ref) // 2), empty=float("nan"))
    specs: list[Any] = [
        "x",
        {"name": "u", "column": "x", "strategy": "uniform", "bins": 13},
        "n",
        "c",
        {"name": "text", "type": "numeric"},
        {"name": "empty", "type": "numeric"},
        {"name": "gone", "type": "numeric"},
    ]
    whole = driftmon.Profile.fit(ref, specs)
    streamed = driftmon.Profile.fit(iter(_table(ref).to_batches(max_chunksize=256)), specs)
    assert whole._reference.features == streamed._reference.features
    assert set(whole.errors) == {"text", "empty", "gone"}
    assert whole.errors == {
        k: v.replace("batches (builtins.list_iterator)", "pandas DataFrame")
        for k, v in streamed.errors.items()
    }


def test_string_views_as_polars_hands_them_over_are_text(drifted: Frames) -> None:
    """A live frame whose strings arrive as ``string_view`` is scored against a pandas
    reference as text, with no note of a changed kind."""
    ref, live = drifted
    table = _table(live)
    viewed = table.set_column(2, "c", table.column("c").cast(pa.string_view()))
    report = driftmon.compare(ref, CapsuleOnly(viewed))
    assert _features(report) == _features(driftmon.compare(ref, live))
