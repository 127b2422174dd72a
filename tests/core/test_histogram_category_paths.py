"""The fast categorical counting paths give the counts of the plain definition.

The definition: cast the whole column to Arrow strings (a mixed-type object column value
by value, each spelled as a column of its own type would spell it; NaN as missing), then
``value_counts``. The fast paths count dictionary indices, integers
before their cast, and object columns by object; each must agree on every input type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.core import histogram as hist_module
from driftmon.core import textmatch
from driftmon.core.bins import CategoricalBins
from driftmon.core.histogram import categorical_histogram, category_value_counts
from tests.ci import in_ci


@pytest.fixture(autouse=True, params=["compiled", "without the compiled count"])
def _text_count(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every path twice: with the compiled text count (``core.textmatch``) and without it,
    as an install without a C compiler counts."""
    if request.param != "compiled":
        monkeypatch.setattr(textmatch, "_textmatch", None)
    elif not textmatch.available() and not in_ci():
        pytest.skip("driftmon.core._textmatch is not built")


def definition_strings(values: Any) -> pa.Array:
    """``_as_arrow_strings`` as first written: every row converted, then cast."""
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    elif isinstance(values, pa.Array):
        arr = values
    else:
        series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
        try:
            arr = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed types: each value spelled as a column of its own type would spell it.
            mask = series.isna().to_numpy()
            texts = [None if m else spell_alone(v) for v, m in zip(series, mask, strict=True)]
            arr = pa.array(texts, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_floating(arr.type):  # NaN is missing, not the category "nan"
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    return arr


def spell_alone(value: Any) -> str:
    """A value's text in a one-row column of its own type (str() if Arrow can't type it)."""
    try:
        text = pc.cast(pa.array([value], from_pandas=True), pa.string())[0].as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        text = None
    return str(value) if text is None else text


def definition_counts(values: Any) -> tuple[dict[str, int], int]:
    arr = definition_strings(values)
    vc = pc.value_counts(arr)
    keys = vc.field("values").to_pylist()
    counts = vc.field("counts").to_pylist()
    return {k: c for k, c in zip(keys, counts, strict=True) if k is not None}, arr.null_count


def definition_histogram(values: Any, bins: CategoricalBins) -> list[int]:
    counts, missing = definition_counts(values)
    out = [0] * bins.n_bins
    out[bins.missing_index] = missing
    index = {c: i for i, c in enumerate(bins.categories)}
    for text, n in counts.items():
        out[index.get(text, bins.other_index)] += n
    return out


def assert_same(values: Any, bins: CategoricalBins) -> None:
    assert category_value_counts(values) == definition_counts(values)
    assert categorical_histogram(values, bins).to_list() == definition_histogram(values, bins)


# --- generated columns, every container --------------------------------------------------

WORDS = ["a", "b", "ab", "", "é", "1", "true", "nan", "None"]
text_or_missing = st.one_of(st.sampled_from(WORDS), st.text(max_size=3), st.none(), st.just(np.nan))
mixed_cell = st.one_of(
    text_or_missing, st.integers(-3, 3), st.booleans(), st.floats(allow_nan=True), st.none()
)


def containers(cells: list[Any]) -> dict[str, Any]:
    """The same cells as every column type a source may hand over."""
    obj = np.empty(len(cells), dtype=object)
    obj[:] = cells
    out: dict[str, Any] = {
        "object series": pd.Series(obj, dtype=object),
        "object ndarray": obj,
        "inferred series": pd.Series(obj.copy()),
    }
    try:
        arr = pa.array(pd.Series(obj, dtype=object), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return out
    out["arrow"] = arr
    if len(arr) > 1:
        out["chunked arrow"] = pa.chunked_array([arr[: len(arr) // 2], arr[len(arr) // 2 :]])
    if not pa.types.is_null(arr.type):
        out["dictionary"] = arr.dictionary_encode()
        halves = [
            arr[: len(arr) // 2].dictionary_encode(),
            arr[len(arr) // 2 :].dictionary_encode(),
        ]
        out["chunked dictionaries"] = pa.chunked_array(halves)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        out["str series"] = pd.Series(obj, dtype="str")
        out["category series"] = pd.Series(obj, dtype="str").astype("category")
    return out


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(text_or_missing, max_size=40), n_keep=st.integers(1, 5))
def test_text_columns_count_as_the_definition(cells: list[Any], n_keep: int) -> None:
    """Text with None/NaN, in every container, counts and bins as the definition does."""
    bins = CategoricalBins(tuple(WORDS[:n_keep]))
    for values in containers(cells).values():
        assert_same(values, bins)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(mixed_cell, max_size=30))
def test_mixed_object_columns_count_as_the_definition(cells: list[Any]) -> None:
    """Mixed types (str() spelling), numbers, booleans and NaN count as the definition does."""
    bins = CategoricalBins(("1", "True", "true", "a", "1.0", "nan"))
    for values in containers(cells).values():
        assert_same(values, bins)


@settings(max_examples=100, deadline=None)
@given(ints=st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.none()), max_size=30))
def test_integer_and_boolean_arrow_columns_count_as_the_definition(ints: list[int | None]) -> None:
    """Integers are counted before their cast to text; the spelling is the cast's."""
    bins = CategoricalBins(("0", "1", "-1", "true", "false"))
    for arr in (
        pa.array(ints, type=pa.int64()),
        pa.array([None if v is None else v % 2 == 0 for v in ints], type=pa.bool_()),
        pa.array([None if v is None else v % 200 - 100 for v in ints], type=pa.int8()),
    ):
        assert_same(arr, bins)


# --- the object-address path --------------------------------------------------------------


def test_equal_strings_held_by_different_objects_merge() -> None:
    """Two str objects with the same text are one category, whatever their addresses."""
    a = "".join(["x", "y"])
    b = "".join(["x", "y"])
    assert a is not b
    obj = np.array([a, b, a, None, np.nan, float("nan")], dtype=object)
    bins = CategoricalBins(("xy",))
    assert category_value_counts(obj) == ({"xy": 3}, 3)
    assert_same(obj, bins)
    assert_same(pd.Series(obj, dtype=object), bins)


def test_numbers_that_compare_equal_keep_their_own_spelling() -> None:
    """1, 1.0 and True are equal in Python but are different texts in a mixed column."""
    obj = np.array([1, 1.0, True, "a", 1, True], dtype=object)
    assert_same(pd.Series(obj, dtype=object), CategoricalBins(("1", "1.0", "True")))


def test_zero_and_negative_zero_in_a_mixed_column_keep_their_own_spelling() -> None:
    """0.0 == -0.0 in Python, but a float column spells them 0 and -0 (found by hypothesis)."""
    obj = np.array(["a", 0.0, -0.0], dtype=object)
    assert category_value_counts(pd.Series(obj, dtype=object)) == ({"a": 1, "0": 1, "-0": 1}, 0)
    assert_same(pd.Series(obj, dtype=object), CategoricalBins(("0", "-0")))
    assert_same(obj, CategoricalBins(("0", "-0")))


def test_many_distinct_objects_are_counted_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """A column of mostly distinct str objects is hashed by value, with the same counts."""
    monkeypatch.setattr(hist_module, "_ADDRESS_SAMPLE", 8)
    monkeypatch.setattr(hist_module, "_MAX_DISTINCT_IN_SAMPLE", 2)
    obj = np.array([f"v{i % 5}" for i in range(50)] + [None, np.nan], dtype=object)
    assert hist_module._object_text_counts(obj, as_series=False) is not None
    assert_same(obj, CategoricalBins(("v0", "v1")))
    assert_same(pd.Series(obj, dtype=object), CategoricalBins(("v0", "v1")))


def test_many_distinct_mixed_objects_go_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distinct objects that are not all text (1 == 1.0 == True) are converted row by row."""
    monkeypatch.setattr(hist_module, "_ADDRESS_SAMPLE", 8)
    monkeypatch.setattr(hist_module, "_MAX_DISTINCT_IN_SAMPLE", 2)
    cells: list[object] = [*(f"v{i}" for i in range(10)), 1, 1.0, True, 2, None]
    obj = np.array(cells, dtype=object)
    assert hist_module._object_text_counts(obj, as_series=True) is None
    assert_same(pd.Series(obj, dtype=object), CategoricalBins(("1", "1.0", "True", "v1")))


@settings(max_examples=100, deadline=None)
@given(cells=st.lists(mixed_cell, max_size=30))
def test_mixed_columns_of_distinct_objects_count_as_the_definition(cells: list[Any]) -> None:
    """The by-value path (every object distinct) agrees with the definition on any cells."""
    bins = CategoricalBins(("1", "True", "a", "nan"))
    obj = np.empty(len(cells), dtype=object)
    obj[:] = [("".join(["", c]) if isinstance(c, str) else c) for c in cells]
    saved = hist_module._MAX_DISTINCT_IN_SAMPLE
    hist_module._MAX_DISTINCT_IN_SAMPLE = 0  # always the by-value path
    try:
        assert_same(pd.Series(obj, dtype=object), bins)
        assert_same(obj, bins)
    finally:
        hist_module._MAX_DISTINCT_IN_SAMPLE = saved


def test_objects_first_seen_late_are_spelled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects whose first row lies beyond the address sample are still found and spelled."""
    monkeypatch.setattr(hist_module, "_ADDRESS_SAMPLE", 4)
    monkeypatch.setattr(hist_module, "_MAX_DISTINCT_IN_SAMPLE", 4)
    cells: list[object] = ["a"] * 30 + ["b"] * 17 + [None] + ["c", 7, "a", "d"]
    obj = np.array(cells, dtype=object)
    for n in (5, 17, 40, len(cells)):
        part = obj[:n]
        assert_same(part, CategoricalBins(("a", "c", "7")))
        assert_same(pd.Series(part, dtype=object), CategoricalBins(("a", "c", "7")))


def test_large_object_column_counts_as_the_definition() -> None:
    """A realistic object column: few shared objects, some None, past the sample size."""
    rng = np.random.default_rng(0)
    cats = np.array([f"category_{i:04d}" for i in range(300)], dtype=object)
    obj = cats[rng.zipf(1.3, size=200_000) % 300]
    obj[::53] = None
    bins = CategoricalBins(tuple(cats[:50]))
    assert_same(pd.Series(obj, dtype=object), bins)
    assert_same(obj, bins)
    assert_same(pd.Series(obj), bins)  # pandas' default str dtype


def test_empty_columns_of_every_kind() -> None:
    bins = CategoricalBins(("a",))
    for values in (
        pd.Series([], dtype=object),
        np.array([], dtype=object),
        pa.array([], type=pa.string()),
        pa.chunked_array([], type=pa.string()),
        pa.array([], type=pa.string()).dictionary_encode(),
    ):
        assert_same(values, bins)
