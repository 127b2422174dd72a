"""Bin layouts: fitting numeric and categorical bins from a reference, and their validation."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.core.bins import (
    MISSING_LABEL,
    OTHER_LABEL,
    BinningError,
    CategoricalBins,
    NumericBins,
    bins_from_dict,
    explicit_numeric_bins,
    fit_categorical_bins,
    fit_numeric_bins,
)
from driftmon.core.histogram import numeric_histogram

# Reference columns: any float (NaN, ±inf, ±0, subnormals and the largest floats included).
any_floats = st.lists(st.floats(), max_size=60)
# Heavily tied columns: few distinct values, often zero-inflated (counts, amounts).
tied_values = st.lists(
    st.one_of(
        st.just(0.0),
        st.just(0.0),
        st.integers(0, 5).map(float),
        st.sampled_from([-3.5, 1e-300, 2.5, 1e6, 7.0]),
    ),
    min_size=1,
    max_size=200,
)


def _value_counts(values: list[float], bins: NumericBins) -> np.ndarray:
    """Reference counts of the value bins (the missing bin left out)."""
    return numeric_histogram(np.asarray(values, dtype=np.float64), bins).counts[:-1]


# --- numeric: quantile strategy -------------------------------------------------------


def test_quantile_edges_are_reference_values_at_inverted_cdf_probabilities() -> None:
    # x = 1..10, 5 bins: inverted_cdf takes the smallest x with F(x) >= p, F(x) = x/10,
    # so p = .2 .4 .6 .8 give 2, 4, 6, 8.
    bins = fit_numeric_bins(np.arange(1.0, 11.0), n_bins=5)
    assert bins.edges == (2.0, 4.0, 6.0, 8.0)


def test_quantile_bins_of_distinct_values_hold_equal_shares_within_one_row() -> None:
    values = np.random.default_rng(0).normal(size=1000)
    counts = _value_counts(list(values), fit_numeric_bins(values, n_bins=10))
    assert counts.size == 10
    assert np.all(np.abs(counts - 100) <= 1)


def test_quantile_ignores_nan_and_infinities_when_fitting() -> None:
    clean = np.arange(1.0, 11.0)
    dirty = np.concatenate([clean, [np.nan, np.inf, -np.inf, np.nan]])
    assert fit_numeric_bins(dirty, n_bins=5) == fit_numeric_bins(clean, n_bins=5)


@settings(max_examples=150, deadline=None)
@given(values=tied_values, n_bins=st.integers(1, 20))
def test_quantile_bins_on_tied_data_have_no_empty_and_no_zero_width_bin(
    values: list[float], n_bins: int
) -> None:
    bins = fit_numeric_bins(np.asarray(values), n_bins=n_bins)
    assert np.all(np.diff(bins.edges) > 0)
    assert len(bins.edges) + 1 <= n_bins or len(set(values)) == 1
    counts = _value_counts(values, bins)
    if len(set(values)) > 1:
        assert np.all(counts > 0), (bins.edges, counts)
    else:  # constant reference: one bin holding the value, two empty outer bins
        assert counts.tolist() == [0, len(values), 0]


def test_zero_inflated_reference_keeps_zeros_apart_from_positive_values() -> None:
    # 95% zeros: every decile is 0, the reference minimum. Bins must still separate the zeros
    # from the positive amounts, or no shift of the amounts could ever register as drift.
    values = [0.0] * 95 + [1.0, 2.0, 3.0, 4.0, 5.0]
    bins = fit_numeric_bins(np.asarray(values), n_bins=10)
    assert bins.edges == (1.0,)
    assert _value_counts(values, bins).tolist() == [95, 5]


def test_half_zero_reference_gives_the_zeros_their_own_bin() -> None:
    # 50 zeros then 1..50 (n = 100): deciles .1-.5 are 0 (the minimum), .6 .7 .8 .9 are the
    # 60th, 70th, 80th, 90th values: 10, 20, 30, 40. The zeros get (-inf, 1), the next bin
    # starts at the smallest positive value.
    values = [0.0] * 50 + [float(i) for i in range(1, 51)]
    bins = fit_numeric_bins(np.asarray(values), n_bins=10)
    assert bins.edges == (1.0, 10.0, 20.0, 30.0, 40.0)
    assert _value_counts(values, bins).tolist() == [50, 9, 10, 10, 10, 11]


def test_single_bin_requested_gives_one_open_value_bin() -> None:
    assert fit_numeric_bins(np.arange(10.0), n_bins=1).edges == ()


# --- numeric: degenerate references -----------------------------------------------------


def test_constant_reference_gets_one_bin_holding_the_value_and_empty_outer_bins() -> None:
    bins = fit_numeric_bins(np.full(7, 3.0))
    assert bins.edges == (3.0, float(np.nextafter(3.0, math.inf)))
    live = np.array([3.0, 2.999, 3.0000001, np.nan])
    assert numeric_histogram(live, bins).to_list() == [1, 1, 1, 1]


def test_constant_reference_at_the_largest_float_still_gets_finite_edges() -> None:
    big = float(np.finfo(np.float64).max)
    bins = fit_numeric_bins(np.full(3, big))
    assert all(math.isfinite(e) for e in bins.edges)
    counts = numeric_histogram(np.array([big, 1.0, np.inf]), bins).counts
    assert counts[0] == 1  # 1.0 lies below the reference value
    assert counts[-1] == 0
    assert counts.sum() == 3


def test_all_nan_reference_gets_a_single_open_value_bin() -> None:
    bins = fit_numeric_bins(np.array([np.nan, np.nan, np.inf, -np.inf]))
    assert bins.edges == ()
    assert bins.n_bins == 2
    assert bins.missing_index == 1


def test_empty_reference_gets_a_single_open_value_bin() -> None:
    assert fit_numeric_bins(np.array([], dtype=np.float64)).edges == ()


# --- numeric: uniform strategy ----------------------------------------------------------


def test_uniform_strategy_gives_equal_width_edges_between_min_and_max() -> None:
    # [0, 10] in 5 bins of width 2: inner edges 2, 4, 6, 8.
    bins = fit_numeric_bins(np.array([0.0, 10.0, 1.0, np.nan]), n_bins=5, strategy="uniform")
    assert bins.edges == (2.0, 4.0, 6.0, 8.0)


def test_uniform_strategy_over_the_whole_float_range_gives_finite_edges() -> None:
    big = float(np.finfo(np.float64).max)
    bins = fit_numeric_bins(np.array([-big, big]), n_bins=4, strategy="uniform")
    assert bins.edges == pytest.approx((-big / 2, 0.0, big / 2))


@settings(max_examples=200, deadline=None)
@given(
    values=any_floats,
    n_bins=st.integers(1, 30),
    strategy=st.sampled_from(["quantile", "uniform"]),
)
def test_fitted_edges_are_finite_and_strictly_increasing_for_any_reference(
    values: list[float], n_bins: int, strategy: str
) -> None:
    bins = fit_numeric_bins(np.asarray(values, dtype=np.float64), n_bins, strategy)  # type: ignore[arg-type]
    e = np.asarray(bins.edges)
    assert np.all(np.isfinite(e))
    assert np.all(np.diff(e) > 0)
    assert len(e) <= max(n_bins - 1, 2)  # a constant reference gets its two edges


@pytest.mark.parametrize("n_bins", [0, -1])
def test_fewer_than_one_bin_is_a_binning_error(n_bins: int) -> None:
    with pytest.raises(BinningError):
        fit_numeric_bins(np.arange(5.0), n_bins=n_bins)


def test_unknown_numeric_strategy_is_a_binning_error() -> None:
    with pytest.raises(BinningError, match="strategy"):
        fit_numeric_bins(np.arange(5.0), strategy="kmeans")  # type: ignore[arg-type]


# --- numeric: explicit edges and the layout itself --------------------------------------


def test_explicit_edges_are_kept_as_given() -> None:
    assert explicit_numeric_bins([0, 1.5, 10]).edges == (0.0, 1.5, 10.0)


@pytest.mark.parametrize(
    "edges",
    [
        [],
        [1.0, 1.0],
        [2.0, 1.0],
        [0.0, 2.0, 1.0],
        [0.0, math.nan],
        [math.inf],
        [-math.inf, 0.0],
        [-0.0, 0.0],
    ],
    ids=["empty", "duplicate", "decreasing", "unsorted", "nan", "inf", "-inf", "signed-zeros"],
)
def test_bad_explicit_edges_are_a_binning_error(edges: list[float]) -> None:
    with pytest.raises(BinningError):
        explicit_numeric_bins(edges)


def test_numeric_layout_has_open_outer_bins_and_a_missing_bin() -> None:
    bins = NumericBins((1.0, 2.5))
    assert bins.n_bins == 4
    assert bins.missing_index == 3
    assert bins.labels() == ["(-inf, 1)", "[1, 2.5)", "[2.5, +inf)", MISSING_LABEL]
    assert NumericBins(()).labels() == ["(-inf, +inf)", MISSING_LABEL]


# --- categorical ------------------------------------------------------------------------


def test_categorical_keeps_most_frequent_categories_with_ties_broken_by_text() -> None:
    counts = {"b": 3, "a": 3, "c": 5, "d": 1, "B": 3}
    # c (5) first, then the three with 3 in text order: "B" < "a" < "b".
    assert fit_categorical_bins(counts, max_categories=3).categories == ("c", "B", "a")
    assert fit_categorical_bins(counts).categories == ("c", "B", "a", "b", "d")


@settings(max_examples=100, deadline=None)
@given(
    counts=st.dictionaries(st.text(max_size=4), st.integers(1, 5), max_size=15),
    k=st.integers(1, 20),
    seed=st.randoms(use_true_random=False),
)
def test_categorical_layout_does_not_depend_on_the_order_of_value_counts(
    counts: dict[str, int], k: int, seed: random.Random
) -> None:
    items = list(counts.items())
    seed.shuffle(items)
    shuffled = dict(items)
    bins = fit_categorical_bins(counts, k)
    assert fit_categorical_bins(shuffled, k) == bins
    assert len(bins.categories) == min(k, len(counts))
    kept = [counts[c] for c in bins.categories]
    assert kept == sorted(kept, reverse=True)
    dropped = set(counts) - set(bins.categories)
    assert all(counts[d] <= min(kept) for d in dropped)


def test_categorical_never_keeps_a_category_with_zero_count() -> None:
    assert fit_categorical_bins({"a": 2, "z": 0}).categories == ("a",)


def test_fewer_than_one_category_is_a_binning_error() -> None:
    with pytest.raises(BinningError):
        fit_categorical_bins({"a": 1}, max_categories=0)


def test_duplicate_categories_are_a_binning_error() -> None:
    with pytest.raises(BinningError):
        CategoricalBins(("a", "a"))


def test_categorical_layout_has_other_then_missing_after_the_categories() -> None:
    bins = CategoricalBins(("x", "y"))
    assert (bins.n_bins, bins.other_index, bins.missing_index) == (4, 2, 3)
    assert bins.labels() == ["x", "y", OTHER_LABEL, MISSING_LABEL]


# --- serialisation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bins",
    [
        NumericBins(()),
        NumericBins((0.1, 0.2, 1e300)),
        NumericBins((3.0, float(np.nextafter(3.0, math.inf)))),
        CategoricalBins(()),
        CategoricalBins(("é", "", "1", OTHER_LABEL + "x")),
    ],
)
def test_bins_round_trip_through_to_dict(bins: NumericBins | CategoricalBins) -> None:
    assert bins_from_dict(bins.to_dict()) == bins


def test_unknown_bin_kind_is_a_binning_error() -> None:
    with pytest.raises(BinningError, match="kind"):
        bins_from_dict({"kind": "ordinal", "edges": []})
