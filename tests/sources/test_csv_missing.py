"""Missing values in CSV files: empty fields and null markers are missing in every column
kind, exactly as nulls in the same data as Parquet; ``null_values`` overrides the markers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftmon.config.sources import FileSourceConfig
from driftmon.core.bins import CategoricalBins
from driftmon.core.drift import score
from driftmon.core.profile import (
    FeatureProfile,
    FeatureSpec,
    ReferenceValuesError,
    build_feature_profile,
)
from driftmon.errors import ConfigError
from driftmon.sources import FileSource
from driftmon.sources.files import DEFAULT_NULL_VALUES

ISSUE_CSV = "c,x\na,1\nb,2\n,3\nNA,\na,5\nb,6\n"
MARKERS = ("", "NA", "N/A", "NULL", "null", "NaN", "nan", "#N/A", "n/a")


def column(src: FileSource, name: str) -> pa.ChunkedArray:
    return pa.chunked_array([b.column(name) for b in src.batches([name])])


def profile(src: FileSource, name: str, kind: str) -> FeatureProfile:
    spec = FeatureSpec(name, "categorical" if kind == "categorical" else "numeric", bins=4)
    return build_feature_profile(column(src, name), spec)


def test_the_issue_csv_reads_empty_and_na_text_as_missing_like_numbers(tmp_path: Path) -> None:
    """Text column c: '' and 'NA' are missing (2 of 6), as x's empty field is (1 of 6)."""
    f = tmp_path / "ref.csv"
    f.write_text(ISSUE_CSV)
    src = FileSource(f)
    assert column(src, "c").to_pylist() == ["a", "b", None, None, "a", "b"]
    assert column(src, "x").to_pylist() == [1, 2, 3, None, 5, 6]
    c = profile(src, "c", "categorical")
    assert isinstance(c.bins, CategoricalBins)
    assert sorted(c.bins.categories) == ["a", "b"]
    assert c.reference.to_list() == [2, 2, 0, 2]  # a, b, other, missing


def test_the_issue_csv_and_its_parquet_score_zero_kl(tmp_path: Path) -> None:
    """The same rows as CSV and as Parquet: identical profiles, KL 0 (was 0.54, critical)."""
    f = tmp_path / "ref.csv"
    f.write_text(ISSUE_CSV)
    pq.write_table(
        pa.table({"c": ["a", "b", None, None, "a", "b"], "x": [1, 2, 3, None, 5, 6]}),
        tmp_path / "ref.parquet",
    )
    as_csv = profile(FileSource(f), "c", "categorical")
    as_parquet = profile(FileSource(tmp_path / "ref.parquet"), "c", "categorical")
    assert as_csv.to_dict() == as_parquet.to_dict()
    scores = score(as_csv.reference, as_parquet.reference)
    assert scores is not None
    assert scores.kl_divergence == 0.0


# -- the same data as CSV and as Parquet, every column kind ------------------------------


def _csv_float(v: float) -> str:
    return "nan" if math.isnan(v) else repr(v)


def _csv_timestamp(v: datetime) -> str:
    return v.isoformat(sep=" ")


KINDS: dict[str, tuple[st.SearchStrategy[Any], pa.DataType, Callable[[Any], str], list[str]]] = {
    "float": (
        st.floats(allow_infinity=False, width=64),
        pa.float64(),
        _csv_float,
        ["numeric", "categorical"],
    ),
    "integer": (
        st.integers(-(2**63), 2**63 - 1),
        pa.int64(),
        str,
        ["numeric", "categorical"],
    ),
    "bool": (st.booleans(), pa.bool_(), lambda v: "true" if v else "false", ["categorical"]),
    "text": (
        st.text(alphabet="abcxyzé ", min_size=1, max_size=4).filter(
            lambda s: s.strip() == s and s.lower() not in ("nan", "true", "false", "null")
        ),
        pa.string(),
        lambda v: '"' + v + '"',
        ["categorical"],
    ),
    # Compared as values (see the test): a timestamp category is spelled with its unit's
    # digits, and Parquet keeps timestamp[s] as milliseconds.
    "timestamp": (
        st.integers(0, 10**9).map(lambda s: datetime(2000, 1, 1) + timedelta(seconds=s)),
        pa.timestamp("s"),
        _csv_timestamp,
        [],
    ),
}


def _is_missing(v: Any) -> bool:
    """None and NaN are missing in both formats (a reference of only those has no values)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def test_an_all_missing_float_column_is_refused_alike_as_csv_and_parquet(tmp_path: Path) -> None:
    """NaN and a null marker leave no value to fit: both files refuse with the same error."""
    as_csv, as_parquet = _write_both(
        tmp_path, [math.nan, None], pa.float64(), _csv_float, [("NA", False)]
    )
    messages = []
    for src in (as_csv, as_parquet):
        with pytest.raises(ReferenceValuesError) as caught:
            profile(src, "v", "numeric")
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "no finite value in its 2 rows (2 missing)" in messages[0]


def _write_both(
    tmp_path: Path,
    values: Sequence[Any],
    arrow_type: pa.DataType,
    spell: Callable[[Any], str],
    markers: Sequence[tuple[str, bool]],
) -> tuple[FileSource, FileSource]:
    """``values`` (None = missing) as v.parquet and as v.csv, each missing one spelled by the
    next of ``markers`` (marker, quoted). An id column keeps a line with an empty field from
    being an empty line, which CSV readers skip."""
    ids = pa.array(range(len(values)), pa.int64())
    table = pa.table({"id": ids, "v": pa.array(values, arrow_type)})
    pq.write_table(table, tmp_path / "v.parquet")
    lines, i = ["id,v"], 0
    for n, v in enumerate(values):
        if v is None:
            marker, quoted = markers[i % len(markers)]
            lines.append(f'{n},"{marker}"' if quoted else f"{n},{marker}")
            i += 1
        else:
            lines.append(f"{n},{spell(v)}")
    (tmp_path / "v.csv").write_text("\n".join(lines) + "\n")
    return FileSource(tmp_path / "v.csv"), FileSource(tmp_path / "v.parquet")


@pytest.mark.parametrize("kind", list(KINDS))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_csv_and_parquet_of_the_same_data_give_identical_profiles(
    tmp_path: Path, kind: str, data: st.DataObject
) -> None:
    """Any values with any missing ones (written as any default marker, quoted or not):
    the CSV and the Parquet file give the same reference profile and live histogram."""
    strategy, arrow_type, spell, feature_kinds = KINDS[kind]
    values = data.draw(
        st.lists(st.one_of(st.none(), strategy), min_size=1, max_size=30).filter(
            lambda vs: any(not _is_missing(v) for v in vs)
        )
    )
    markers = data.draw(
        st.lists(st.tuples(st.sampled_from(MARKERS), st.booleans()), min_size=1, max_size=4)
    )
    as_csv, as_parquet = _write_both(tmp_path, values, arrow_type, spell, markers)
    if kind == "timestamp":
        from_parquet = column(as_parquet, "v")
        assert column(as_csv, "v").cast(from_parquet.type).equals(from_parquet)
    for feature_kind in feature_kinds:
        p_csv = profile(as_csv, "v", feature_kind)
        p_parquet = profile(as_parquet, "v", feature_kind)
        assert p_csv.to_dict() == p_parquet.to_dict()
        assert p_csv.live_histogram(column(as_csv, "v")) == p_parquet.live_histogram(
            column(as_parquet, "v")
        )
        missing = sum(_is_missing(v) for v in values)
        assert p_csv.reference.to_list()[-1] == missing


# -- null_values --------------------------------------------------------------------------


def test_default_markers_are_pyarrows_list() -> None:
    assert "" in DEFAULT_NULL_VALUES
    assert {"NA", "NULL", "NaN", "N/A", "null", "nan"} <= set(DEFAULT_NULL_VALUES)
    assert FileSource("x.csv").null_values == DEFAULT_NULL_VALUES


def test_null_values_make_na_a_real_category_in_text_columns(tmp_path: Path) -> None:
    """null_values: [NULL]: NA is a category, NULL and the empty field are missing."""
    f = tmp_path / "d.csv"
    f.write_text("c,x\nNA,1\nNULL,NULL\n,\nNaN,4\n")
    src = FileSource(f, null_values=["NULL"])
    assert column(src, "c").to_pylist() == ["NA", None, None, "NaN"]
    assert column(src, "x").to_pylist() == [1, None, None, 4]


def test_empty_null_values_leave_only_empty_fields_missing(tmp_path: Path) -> None:
    """null_values: []: every text is a value; an empty field (quoted or not) is missing."""
    f = tmp_path / "d.csv"
    f.write_text('c,x\nNA,1\n,2\n"",\nnull,4\n')
    src = FileSource(f, null_values=[])
    assert src.null_values == ("",)
    assert column(src, "c").to_pylist() == ["NA", None, None, "null"]
    assert column(src, "x").to_pylist() == [1, 2, None, 4]


def test_a_numeric_column_with_a_marker_outside_null_values_reads_as_text(tmp_path: Path) -> None:
    """With NA no longer missing, a numeric column holding NA is text: its feature fails
    with the reason instead of silently dropping rows."""
    f = tmp_path / "d.csv"
    f.write_text("x\n1\nNA\n3\n")
    assert column(FileSource(f), "x").type == pa.int64()
    assert column(FileSource(f, null_values=["-"]), "x").to_pylist() == ["1", "NA", "3"]


def test_null_values_change_the_fingerprint(tmp_path: Path) -> None:
    """Other markers give other profiles, so a stored profile must be rebuilt."""
    f = tmp_path / "d.csv"
    f.write_text(ISSUE_CSV)
    default = FileSource(f).fingerprint()
    assert FileSource(f, null_values=["NA"]).fingerprint() != default
    assert FileSource(f, null_values=[]).fingerprint() != default
    assert FileSource(f).fingerprint() == default


def test_null_values_for_parquet_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CSV files only"):
        FileSource(tmp_path / "d.parquet", null_values=["NA"])


def test_config_null_values_for_csv_and_parquet() -> None:
    cfg = FileSourceConfig.model_validate({"path": "/d/x.csv", "null_values": ["-", "NA"]})
    assert cfg.null_values == ("-", "NA")
    assert FileSourceConfig.model_validate({"path": "/d/x.csv"}).null_values is None
    with pytest.raises(ValueError, match="'null_values' applies to CSV files only"):
        FileSourceConfig.model_validate({"path": "/d/x.parquet", "null_values": []})


def test_the_readme_lists_the_default_markers() -> None:
    """README's Missing values bullet spells out pyarrow's list, so it stays true."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    bullet = readme.split("* **Missing values.**", 1)[1].split("\n* ", 1)[0]
    listed = bullet.split("by default pyarrow's list:", 1)[1].split(". So the", 1)[0]
    markers = [m.strip().strip("`") for m in " ".join(listed.split()).split(",")]
    assert ["", *markers] == list(DEFAULT_NULL_VALUES)
