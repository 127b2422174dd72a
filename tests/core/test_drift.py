"""Scores of a live histogram against its reference: worked values, edge cases, finiteness."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.core.divergence import (
    cross_entropy,
    entropy,
    js_divergence,
    kl_divergence,
    probabilities,
    psi,
    smoothed_reference,
)
from driftmon.core.drift import DriftScores, score, score_all
from driftmon.core.histogram import Histogram
from driftmon.core.profile import FeatureSpec, ReferenceValuesError, build_feature_profile
from driftmon.core.stats import (
    expected_null_kl,
    g_test_one_sample,
    g_test_two_sample,
    kl_g_test,
)


def _h(*counts: int) -> Histogram:
    return Histogram(np.array(counts))


# --- worked example ---------------------------------------------------------------------


def test_score_of_three_bins_by_hand() -> None:
    # live [5, 3, 2, 0] (n = 10), reference [4, 4, 2, 0] (N = 10); no empty reference bin
    # holds live rows, so Q = [.4, .4, .2, 0] unsmoothed. From test_divergence:
    # KL = 0.0252671539, H(P) = 1.0296530140, H(P,Q) = 1.0549201680, JS = 0.0063671983,
    # PSI = 0.0510825624. k = 3 bins hold rows: expected KL = 2/2·(1/10 + 1/10) = 0.2.
    s = score(_h(5, 3, 2, 0), _h(4, 4, 2, 0))
    assert s is not None
    assert s.kl_divergence == pytest.approx(0.0252671539, abs=1e-10)
    assert s.entropy == pytest.approx(1.0296530140, abs=1e-10)
    assert s.cross_entropy == pytest.approx(1.0549201680, abs=1e-10)
    assert s.js_divergence == pytest.approx(0.0063671983, abs=1e-10)
    assert s.psi == pytest.approx(0.0510825624, abs=1e-10)
    assert s.expected_kl == pytest.approx(0.2)
    assert (s.live_rows, s.reference_rows, s.degrees_of_freedom) == (10, 10, 2)
    table = np.array([[5, 3, 2], [4, 4, 2]])
    expected = scipy.stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    assert s.g_statistic == pytest.approx(expected.statistic, rel=1e-12)
    # The p-value is the test the significance policy decides with: 2·n_eff·KL / q_W against
    # χ²(2), n_eff = 10·10/20 = 5, Williams q = 1 + (3+1)/6·(1/10 + 1/10 - 1/20) = 1.1.
    assert s.p_value == pytest.approx(scipy.stats.chi2.sf(2 * 5 * 0.0252671539 / 1.1, 2), rel=1e-9)
    assert s.p_value != pytest.approx(expected.pvalue, rel=1e-3)  # not the uncorrected test


def test_score_against_a_fixed_reference_uses_the_one_sample_test_on_smoothed_q() -> None:
    live, ref = _h(5, 3, 2, 0), _h(6, 4, 0, 0)
    s = score(live, ref, reference_is_sample=False)
    assert s is not None
    q = smoothed_reference(ref.counts, live.counts)
    expected = g_test_one_sample(live.counts, q)
    assert (s.g_statistic, s.degrees_of_freedom) == (expected.statistic, expected.dof)
    # One-sample: G = 2n·KL exactly; p divides it by Williams' q = 1 + (k+1)/(6n), k = 3.
    assert s.p_value == pytest.approx(
        scipy.stats.chi2.sf(expected.statistic / (1 + 4 / 60), 2), rel=1e-12
    )
    # G = 2n·KL; KL with the empty reference bin smoothed is 0.1485836363 (test_divergence).
    assert s.g_statistic == pytest.approx(2 * 10 * 0.1485836363, abs=1e-8)
    assert s.expected_kl == pytest.approx(2 / (2 * 10))  # no reference-sampling term


def test_larger_smoothing_lowers_kl_of_live_mass_in_an_empty_reference_bin() -> None:
    live, ref = _h(5, 5), _h(10, 0)
    small, large = score(live, ref, smoothing=0.01), score(live, ref, smoothing=5.0)
    assert small is not None
    assert large is not None
    assert small.kl_divergence > large.kl_divergence > 0


def test_identical_histograms_score_zero_divergence_and_p_value_one() -> None:
    s = score(_h(3, 0, 7, 1), _h(3, 0, 7, 1))
    assert s is not None
    assert (s.kl_divergence, s.js_divergence, s.psi) == (0.0, 0.0, 0.0)
    assert s.g_statistic == pytest.approx(0.0, abs=1e-12)
    assert s.p_value == pytest.approx(1.0)
    assert s.entropy == pytest.approx(s.cross_entropy, abs=1e-15)


def test_all_live_rows_outside_the_reference_range_give_a_large_finite_kl() -> None:
    # Every live row in the reference's empty top bin: Q there = .5/(1000 + .5),
    # KL = ln((1000.5)/.5) = 7.6014...
    s = score(_h(0, 0, 50, 0), _h(400, 600, 0, 0))
    assert s is not None
    assert s.kl_divergence == pytest.approx(math.log(1000.5 / 0.5), rel=1e-12)
    assert s.p_value < 1e-10


# --- insufficient data and invalid input ------------------------------------------------


@pytest.mark.parametrize(
    ("live", "ref"),
    [((0, 0, 0), (1, 2, 3)), ((1, 2, 3), (0, 0, 0)), ((0, 0, 0), (0, 0, 0))],
    ids=["empty-live", "empty-reference", "both-empty"],
)
def test_empty_live_or_reference_scores_none(live: tuple[int, ...], ref: tuple[int, ...]) -> None:
    assert score(_h(*live), _h(*ref)) is None


def test_histograms_of_different_layouts_cannot_be_scored() -> None:
    with pytest.raises(ValueError, match="bins"):
        score(_h(1, 2), _h(1, 2, 3))


def test_scores_serialise_to_a_flat_dict_of_every_field() -> None:
    s = score(_h(5, 3, 2, 0), _h(4, 4, 2, 0))
    assert s is not None
    d = dataclasses.asdict(s)
    assert list(d) == [f.name for f in dataclasses.fields(DriftScores)]
    assert d["live_rows"] == 10


# --- no input, however odd, gives inf or NaN --------------------------------------------

numeric_cells = st.one_of(st.floats(), st.none(), st.just(math.nan), st.just(math.inf))
category_cells = st.one_of(st.text(max_size=3), st.none(), st.booleans(), st.integers(-3, 3))

NUMERIC_CONTAINERS: list[Callable[[list[Any]], Any]] = [
    list,
    lambda v: np.array([math.nan if x is None else x for x in v], dtype=np.float64),
    lambda v: pd.Series(v, dtype="float64"),
    lambda v: pd.Series(v, dtype="Float64"),
    lambda v: pd.Series(v, dtype=object),
    lambda v: pa.array(v, type=pa.float64()),
]
TEXT_CONTAINERS: list[Callable[[list[Any]], Any]] = [
    list,
    lambda v: pd.Series(v, dtype="str"),
    lambda v: pd.Series(v, dtype=object),
    lambda v: pa.array(v, type=pa.string()),
]


@st.composite
def columns(draw: st.DrawFn) -> tuple[FeatureSpec, Any, Any, int, int]:
    """A feature spec, a reference column and a live column of the same kind, and their sizes."""
    kind = draw(st.sampled_from(["numeric", "categorical", "text"]))
    cells: st.SearchStrategy[Any]
    if kind == "numeric":
        cells = numeric_cells
        containers = NUMERIC_CONTAINERS
    elif kind == "text":
        cells = st.one_of(st.text(max_size=3), st.none())
        containers = TEXT_CONTAINERS
    else:  # mixed types in one column, as read from loosely typed sources
        cells = category_cells
        containers = [list, lambda v: pd.Series(v, dtype=object)]
    ref = draw(st.lists(cells, max_size=40))
    live = draw(st.lists(cells, max_size=40))
    spec = FeatureSpec(
        name="f",
        kind="numeric" if kind == "numeric" else "categorical",
        bins=draw(st.integers(1, 12)),
        strategy=draw(st.sampled_from(["quantile", "uniform"])),
        max_categories=draw(st.integers(1, 6)),
    )
    wrap_ref, wrap_live = draw(st.sampled_from(containers)), draw(st.sampled_from(containers))
    return spec, wrap_ref(ref), wrap_live(live), len(ref), len(live)


@settings(max_examples=300, deadline=None)
@given(
    column=columns(),
    reference_is_sample=st.booleans(),
    smoothing=st.sampled_from([0.5, 1e-9, 1.0, 1e3]),
)
def test_no_generated_column_scores_inf_or_nan(
    column: tuple[FeatureSpec, Any, Any, int, int], reference_is_sample: bool, smoothing: float
) -> None:
    spec, ref, live, n_ref, n_live = column
    try:
        profile = build_feature_profile(ref, spec)
    except ReferenceValuesError:
        # Rows but no value to fit bins to: no profile, the feature is an error (issue 9).
        assert n_ref > 0
        return
    live_hist = profile.live_histogram(live)
    assert (profile.reference_rows, live_hist.total) == (n_ref, n_live)
    s = score(live_hist, profile.reference, smoothing, reference_is_sample)
    if n_ref == 0 or n_live == 0:
        assert s is None
        return
    assert s is not None
    for name, value in dataclasses.asdict(s).items():
        assert math.isfinite(value), (name, value)
    assert s.kl_divergence >= 0.0
    assert 0.0 <= s.js_divergence <= math.log(2) + 1e-12
    assert s.psi >= 0.0
    assert s.g_statistic >= 0.0
    assert 0.0 <= s.p_value <= 1.0
    assert s.kl_divergence == pytest.approx(s.cross_entropy - s.entropy, rel=1e-9, abs=1e-12)


def test_all_missing_live_column_against_a_complete_reference_scores_finite() -> None:
    profile = build_feature_profile(np.arange(100.0), FeatureSpec("x"))
    s = score(profile.live_histogram([None, math.nan]), profile.reference)
    assert s is not None
    # All live mass in the missing bin, empty in the reference: KL = ln((100 + .5)/.5).
    assert s.kl_divergence == pytest.approx(math.log(100.5 / 0.5), rel=1e-12)


def test_never_seen_category_scores_finite_and_detects_drift() -> None:
    profile = build_feature_profile(["a"] * 60 + ["b"] * 40, FeatureSpec("c", "categorical"))
    s = score(profile.live_histogram(["zzz"] * 10), profile.reference)
    assert s is not None
    assert math.isfinite(s.kl_divergence)
    assert s.kl_divergence > 1
    assert s.p_value < 1e-6


# --- calibration ------------------------------------------------------------------------


def test_two_sample_p_value_rejects_about_five_percent_without_drift() -> None:
    rng = np.random.default_rng(11)
    q = np.array([0.1, 0.2, 0.3, 0.4])
    p_values = []
    for _ in range(1000):
        live = Histogram(rng.multinomial(300, q))
        ref = Histogram(rng.multinomial(3000, q))
        s = score(live, ref)
        assert s is not None
        p_values.append(s.p_value)
    rate = np.mean(np.array(p_values) < 0.05)
    assert 0.03 <= rate <= 0.07


# --- many features at once ---------------------------------------------------------------


def _one_at_a_time(
    live: Histogram, ref: Histogram, smoothing: float, sample: bool
) -> DriftScores | None:
    """The scores from the one-feature definitions in divergence.py and stats.py."""
    n, big_n = live.total, ref.total
    if n == 0 or big_n == 0:
        return None
    p = probabilities(live.counts)
    q = smoothed_reference(ref.counts, live.counts, smoothing)
    q_raw = probabilities(ref.counts)
    test = (
        g_test_two_sample(live.counts, ref.counts) if sample else g_test_one_sample(live.counts, q)
    )
    kl = kl_divergence(p, q)
    k = int(((live.counts + ref.counts) > 0).sum())
    return DriftScores(
        kl_divergence=kl,
        entropy=entropy(p),
        cross_entropy=cross_entropy(p, q),
        js_divergence=js_divergence(p, q_raw),
        psi=psi(p, q_raw),
        g_statistic=test.statistic,
        degrees_of_freedom=test.dof,
        p_value=kl_g_test(kl, n, big_n, test.dof, sample).p_value,
        expected_kl=expected_null_kl(n, k, big_n if sample else None),
        live_rows=n,
        reference_rows=big_n,
    )


_COUNTS = st.lists(st.integers(0, 50), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(
        _COUNTS.flatmap(
            lambda live: st.tuples(
                st.just(live),
                st.lists(
                    st.one_of(st.integers(0, 3), st.integers(0, 10**6)),
                    min_size=len(live),
                    max_size=len(live),
                ),
                st.sampled_from([0.5, 1.0, 5.0]),
            )
        ),
        min_size=1,
        max_size=12,
    ),
    sample=st.booleans(),
)
def test_score_all_is_each_feature_scored_by_the_one_feature_formulas(
    pairs: list[tuple[list[int], list[int], float]], sample: bool
) -> None:
    """Batched over features of mixed bin counts: every number is the one-feature
    definition's (to rounding), and a feature's scores do not depend on the others."""
    features = [(Histogram(np.array(a)), Histogram(np.array(b)), s) for a, b, s in pairs]
    batch = score_all(features, sample)
    for (live, ref, smoothing), got in zip(features, batch, strict=True):
        want = _one_at_a_time(live, ref, smoothing, sample)
        assert got == score(live, ref, smoothing, sample)  # alone: the very same numbers
        if want is None:
            assert got is None
            continue
        assert got is not None
        for name, value in dataclasses.asdict(want).items():
            assert getattr(got, name) == pytest.approx(value, rel=1e-12, abs=1e-15), name
        assert math.isfinite(got.kl_divergence)
        assert got.kl_divergence >= 0.0


def test_score_all_of_nothing_is_nothing_and_a_shape_mismatch_names_both() -> None:
    assert score_all([]) == []
    with pytest.raises(ValueError, match="live histogram has 3 bins, reference has 2"):
        score_all([(_h(1, 2, 3), _h(1, 2), 0.5)])
    with pytest.raises(ValueError, match="smoothing must be a positive number of rows"):
        score_all([(_h(1, 2), _h(1, 2), 0.0)])
