"""Counting columns into bin layouts: placement rules, input types, merging and ordering."""

from __future__ import annotations

import datetime as dt
import decimal
import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.core.bins import (
    CategoricalBins,
    NumericBins,
    fit_categorical_bins,
    fit_numeric_bins,
)
from driftmon.core.histogram import (
    ColumnTypeError,
    Histogram,
    categorical_histogram,
    category_value_counts,
    histogram,
    numeric_histogram,
    numeric_values,
)

EDGES = NumericBins((1.0, 2.0, 3.0))  # bins (-inf,1) [1,2) [2,3) [3,+inf) missing

numeric_cells = st.one_of(st.floats(), st.none())
text_cells = st.one_of(st.text(max_size=3), st.none())
sorted_edges = st.lists(
    st.floats(allow_nan=False, allow_infinity=False), max_size=8, unique=True
).map(lambda e: NumericBins(tuple(sorted({float(x) for x in e}))))


def _brute_force_counts(values: list[float | None], edges: tuple[float, ...]) -> list[int]:
    """The bin rules of driftmon.core.bins, one value at a time."""
    bounds = [-np.inf, *edges, np.inf]
    counts = [0] * (len(edges) + 2)
    for v in values:
        if v is None or np.isnan(v):
            counts[-1] += 1
            continue
        for i in range(len(edges) + 1):
            last = i == len(edges)
            if bounds[i] <= v < bounds[i + 1] or (last and v == np.inf):
                counts[i] += 1
                break
        else:
            raise AssertionError(f"{v} fell in no bin")
    return counts


# --- numeric placement rules ------------------------------------------------------------


def test_value_equal_to_an_edge_goes_to_the_bin_above_it() -> None:
    # [a, b) bins: 1.0 opens [1,2), 2.0 opens [2,3), 3.0 opens [3,+inf).
    assert numeric_histogram([1.0, 2.0, 3.0], EDGES).to_list() == [0, 1, 1, 1, 0]


def test_value_just_below_an_edge_stays_in_the_lower_bin() -> None:
    below = float(np.nextafter(2.0, -np.inf))
    assert numeric_histogram([below], EDGES).to_list() == [0, 1, 0, 0, 0]


def test_infinities_go_to_the_open_outer_bins() -> None:
    assert numeric_histogram([-np.inf, np.inf, -1e308, 1e308], EDGES).to_list() == [2, 0, 0, 2, 0]


def test_nan_none_and_pandas_na_go_to_the_missing_bin() -> None:
    values = pd.Series([np.nan, None, pd.NA, 1.5], dtype=object)
    assert numeric_histogram(values, EDGES).to_list() == [0, 1, 0, 0, 3]


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([1.5, None], dtype="Float64"),
        pd.Series([1, None], dtype="Int64"),
        pa.array([1.5, None]),
        pa.chunked_array([[1.5], [None]]),
        pa.array([decimal.Decimal("1.5"), None], type=pa.decimal128(4, 1)),
        np.array([1.5, np.nan]),
        [1.5, None],
    ],
    ids=["Float64", "Int64", "arrow", "arrow-chunked", "decimal", "numpy", "list"],
)
def test_nullable_numeric_inputs_count_nulls_as_missing(values: object) -> None:
    assert numeric_histogram(values, EDGES).to_list() == [0, 1, 0, 0, 1]


def test_booleans_and_ints_count_as_numbers() -> None:
    bins = NumericBins((0.5,))
    assert numeric_histogram(pd.Series([True, False, True]), bins).to_list() == [1, 2, 0]
    assert numeric_histogram(np.array([0, 1, 1], dtype=np.int8), bins).to_list() == [1, 2, 0]
    assert numeric_histogram(pa.array([0, None], type=pa.uint64()), bins).to_list() == [1, 0, 1]


def test_layout_without_edges_counts_every_number_in_one_bin() -> None:
    values = [-np.inf, 0.0, np.inf, np.nan]
    assert numeric_histogram(values, NumericBins(())).to_list() == [3, 1]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(numeric_cells, max_size=40), bins=sorted_edges)
def test_numeric_counts_follow_the_left_closed_bin_rules(
    values: list[float | None], bins: NumericBins
) -> None:
    column = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    assert numeric_histogram(column, bins).to_list() == _brute_force_counts(values, bins.edges)


def test_numeric_counts_are_exact_across_internal_chunk_boundaries() -> None:
    # Far more values than one internal pass, with every kind of special value at the ends.
    rng = np.random.default_rng(7)
    x = rng.normal(size=300_001)
    x[rng.integers(0, x.size, 5000)] = np.nan
    x[[0, -1, 65_535, 65_536, 131_072]] = [np.inf, -np.inf, np.nan, 0.0, np.nan]
    bins = NumericBins((-1.0, -0.25, 0.0, 0.5, 2.0))
    finite = x[~np.isnan(x)]
    at_or_above = np.array([np.count_nonzero(finite >= e) for e in bins.edges])
    expected_values = -np.diff(np.concatenate([[finite.size], at_or_above, [0]]))
    expected = [*expected_values.tolist(), int(np.isnan(x).sum())]
    assert numeric_histogram(x, bins).to_list() == expected


# --- numeric type errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["a", "b"]),  # pandas 3 default string dtype
        pd.Series(["1.5", "x", None], dtype=object),
        pd.Series([1.0, "x"], dtype=object),
        np.array(["a", "b"]),
        pa.array(["a", None]),
        pd.Series(pd.to_datetime(["2024-01-01"])),
        pa.array([dt.date(2024, 1, 1)]),
        [1.0, "x"],
    ],
    ids=["str-dtype", "object-text", "object-mixed", "numpy-str", "arrow-str", "datetime",
         "arrow-date", "list-mixed"],
)  # fmt: skip
def test_text_or_dates_in_a_numeric_column_raise_column_type_error(values: object) -> None:
    with pytest.raises(ColumnTypeError):
        numeric_values(values)


def test_numeric_type_error_names_offending_values() -> None:
    with pytest.raises(ColumnTypeError, match="'oops'"):
        numeric_values(pd.Series([1.0, "oops"], dtype=object))


# --- categorical ------------------------------------------------------------------------

CATS = CategoricalBins(("a", "b"))  # bins a, b, other, missing


def test_unseen_live_category_goes_to_other() -> None:
    assert categorical_histogram(["a", "zzz", "c", "a"], CATS).to_list() == [2, 0, 2, 0]


def test_none_nan_and_pandas_na_categories_go_to_missing() -> None:
    values = pd.Series(["b", None, np.nan, pd.NA], dtype=object)
    assert categorical_histogram(values, CATS).to_list() == [0, 1, 0, 3]


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["a", "b", "x", None]),  # pandas 3 default string dtype
        pd.Series(["a", "b", "x", None], dtype=object),
        pd.Series(["a", "b", "x", None], dtype="category"),
        pd.Series(["a", "b", "x", None], dtype="string[pyarrow]"),
        pa.array(["a", "b", "x", None]),
        pa.array(["a", "b", "x", None], type=pa.large_string()),
        pa.array(["a", "b", "x", None]).dictionary_encode(),
        pa.chunked_array([["a", "b"], ["x", None]]),
        np.array(["a", "b", "x", None], dtype=object),
        ["a", "b", "x", None],
    ],
    ids=["str-dtype", "object", "pandas-category", "string-pyarrow", "arrow", "large-string",
         "dictionary", "chunked", "numpy-object", "list"],
)  # fmt: skip
def test_every_string_column_type_counts_the_same(values: object) -> None:
    assert categorical_histogram(values, CATS).to_list() == [1, 1, 1, 1]


def test_booleans_are_categories_spelled_true_and_false() -> None:
    counts, missing = category_value_counts(pd.Series([True, False, True, None], dtype=object))
    assert (counts, missing) == ({"true": 2, "false": 1}, 1)
    bins = CategoricalBins(("true", "false"))
    assert categorical_histogram(np.array([False, False]), bins).to_list() == [0, 2, 0, 0]
    assert categorical_histogram(pd.Series([True, None], dtype="boolean"), bins).to_list() == [
        1,
        0,
        0,
        1,
    ]


def test_integer_categories_match_across_int_float_and_nullable_columns() -> None:
    # An int column with a missing value turns float64 in pandas; 2.0 must still be "2".
    counts, _ = category_value_counts(pd.Series([1, 2, 2]))
    bins = fit_categorical_bins(counts)
    assert bins.categories == ("2", "1")
    for live in (
        pd.Series([1.0, 2.0, np.nan]),
        pd.Series([1, 2, None], dtype="Int64"),
        pa.array([1, 2, None], type=pa.int32()),
        np.array([1, 2, None], dtype=object),
        [1, 2, None],
    ):
        assert categorical_histogram(live, bins).to_list() == [1, 1, 0, 1], live


def test_layout_without_categories_counts_everything_as_other_or_missing() -> None:
    bins = CategoricalBins(())
    assert categorical_histogram(["a", None, "b"], bins).to_list() == [2, 1]


def test_empty_columns_give_all_zero_histograms() -> None:
    assert categorical_histogram(pa.array([], type=pa.string()), CATS).total == 0
    assert categorical_histogram(pd.Series([], dtype=object), CATS).total == 0
    assert numeric_histogram(np.array([]), EDGES).total == 0
    assert numeric_histogram(pa.array([]), EDGES).total == 0


def test_nan_in_an_arrow_float_column_counts_as_missing_category() -> None:
    counts, missing = category_value_counts(pa.array([1.0, float("nan"), None]))
    assert (counts, missing) == ({"1": 1}, 2)


@pytest.mark.parametrize(
    ("reference", "live"),
    [
        (pd.Series([True, False]), pd.Series([True, "maybe"], dtype=object)),
        (pd.Series([1.0, 2.5]), pd.Series([1.0, "unknown"], dtype=object)),
    ],
    ids=["bool", "float"],
)
def test_a_category_is_spelled_the_same_in_mixed_and_typed_columns(
    reference: pd.Series, live: pd.Series
) -> None:
    bins = fit_categorical_bins(category_value_counts(reference)[0])
    counts = categorical_histogram(live, bins).counts
    assert counts[bins.other_index] == 1  # only the text value is unseen


# --- the Histogram value ----------------------------------------------------------------


@pytest.mark.parametrize(
    "counts", [[], [1, -1], [[1, 2]]], ids=["empty", "negative", "two-dimensional"]
)
def test_invalid_counts_are_rejected(counts: object) -> None:
    with pytest.raises(ValueError, match="counts"):
        Histogram(np.asarray(counts))


def test_histogram_counts_are_a_read_only_copy() -> None:
    source = np.array([1, 2, 3])
    h = Histogram(source)
    source[0] = 99
    assert h.to_list() == [1, 2, 3]
    with pytest.raises(ValueError, match="read-only"):
        h.counts[0] = 5


def test_histograms_of_different_layouts_do_not_merge() -> None:
    with pytest.raises(ValueError, match="merge"):
        Histogram.empty(3) + Histogram.empty(4)


def test_equal_histograms_compare_and_hash_equal() -> None:
    a, b = Histogram(np.array([1, 0, 2])), Histogram(np.array([1, 0, 2], dtype=np.int32))
    assert a == b
    assert hash(a) == hash(b)
    assert a != Histogram(np.array([1, 0, 3]))
    assert Histogram.empty(3).total == 0


# --- merging and ordering ---------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    a=st.lists(numeric_cells, max_size=30),
    b=st.lists(numeric_cells, max_size=30),
    n_bins=st.integers(1, 12),
)
def test_numeric_histograms_of_two_chunks_merge_to_the_histogram_of_both(
    a: list[float | None], b: list[float | None], n_bins: int
) -> None:
    whole = np.array([np.nan if v is None else v for v in a + b], dtype=np.float64)
    bins = fit_numeric_bins(whole, n_bins)
    merged = histogram(pa.array(a, type=pa.float64()), bins) + histogram(
        pd.Series(b, dtype="Float64"), bins
    )
    assert merged == histogram(whole, bins)
    assert merged.total == len(a) + len(b)


@settings(max_examples=100, deadline=None)
@given(
    a=st.lists(text_cells, max_size=30),
    b=st.lists(text_cells, max_size=30),
    kept=st.lists(st.text(max_size=3), max_size=5, unique=True),
)
def test_categorical_histograms_of_two_chunks_merge_to_the_histogram_of_both(
    a: list[str | None], b: list[str | None], kept: list[str]
) -> None:
    bins = CategoricalBins(tuple(kept))
    merged = histogram(pa.array(a, type=pa.string()), bins) + histogram(
        pd.Series(b, dtype=object), bins
    )
    assert merged == histogram(pd.Series(a + b, dtype="str"), bins)
    assert merged.total == len(a) + len(b)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(numeric_cells, max_size=40), rnd=st.randoms(use_true_random=False))
def test_numeric_bins_and_counts_do_not_depend_on_row_order(
    values: list[float | None], rnd: random.Random
) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)
    x = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    y = np.array([np.nan if v is None else v for v in shuffled], dtype=np.float64)
    for strategy in ("quantile", "uniform"):
        bins = fit_numeric_bins(x, 5, strategy)
        assert fit_numeric_bins(y, 5, strategy) == bins
        assert histogram(y, bins) == histogram(x, bins)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(text_cells, max_size=40), rnd=st.randoms(use_true_random=False))
def test_categorical_counts_do_not_depend_on_row_order(
    values: list[str | None], rnd: random.Random
) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert category_value_counts(shuffled) == category_value_counts(values)
    bins = CategoricalBins(tuple(sorted({v for v in values if v is not None}))[:3])
    assert histogram(shuffled, bins) == histogram(values, bins)
