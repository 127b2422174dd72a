"""G-tests of a live histogram against its reference, and the expected no-drift KL."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from driftmon.core.divergence import kl_divergence, probabilities
from driftmon.core.stats import (
    chi2_isf,
    chi2_sf,
    expected_null_kl,
    g_test_one_sample,
    g_test_two_sample,
)

PROPERTY = settings(max_examples=150, deadline=None)


@st.composite
def count_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Live and reference counts on the same bins, each with at least one row."""
    k = draw(st.integers(1, 10))
    counts = st.lists(st.one_of(st.just(0), st.integers(0, 10**6)), min_size=k, max_size=k)
    live, ref = np.array(draw(counts)), np.array(draw(counts))
    assume(live.sum() > 0 and ref.sum() > 0)
    return live, ref


def _scipy_p_value(result: Any) -> float:
    """SciPy's p-value, or 1 where rounding made its G slightly negative (it then gives NaN)."""
    if result.statistic < 0:
        assert result.statistic > -1e-9
        return 1.0
    return float(result.pvalue)


# --- two-sample G-test ------------------------------------------------------------------


def test_two_sample_g_test_by_hand() -> None:
    # live [30, 10], reference [20, 20]: row totals 40, 40, column totals 50, 30, total 80;
    # expected = row·col/total = [25, 15] in both rows.
    # G = 2·(30 ln(30/25) + 10 ln(10/15) + 20 ln(20/25) + 20 ln(20/15))
    #   = 2·(5.4696467038 - 4.0546510811 - 4.4628710263 + 5.7536414490) = 5.4115320910
    # dof = (2-1)(2-1) = 1; for 1 dof the χ² tail is erfc(√(G/2)) = 0.0200041516.
    result = g_test_two_sample([30, 10], [20, 20])
    assert result.statistic == pytest.approx(5.4115320910, abs=1e-9)
    assert result.dof == 1
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(5.4115320910 / 2)), rel=1e-9)
    assert result.p_value == pytest.approx(0.0200041516, abs=1e-9)


def test_two_sample_g_test_matches_scipy_log_likelihood_contingency_test() -> None:
    table = np.array([[30, 10, 7, 0], [20, 20, 1, 3]])
    expected = scipy.stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    result = g_test_two_sample(table[0], table[1])
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.dof == expected.dof == 3
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


@PROPERTY
@given(pair=count_pairs())
def test_two_sample_g_test_agrees_with_scipy_on_the_used_bins(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    live, ref = pair
    used = (live + ref) > 0
    result = g_test_two_sample(live, ref)
    assert result.dof == used.sum() - 1
    assert 0.0 <= result.p_value <= 1.0
    assert result.statistic >= 0.0
    if used.sum() < 2:
        assert (result.statistic, result.p_value) == (0.0, 1.0)
        return
    expected = scipy.stats.chi2_contingency(
        np.vstack([live[used], ref[used]]), correction=False, lambda_="log-likelihood"
    )
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(_scipy_p_value(expected), rel=1e-6, abs=1e-12)


def test_two_sample_g_test_ignores_bins_empty_in_both_samples() -> None:
    assert g_test_two_sample([30, 0, 10], [20, 0, 20]) == g_test_two_sample([30, 10], [20, 20])


def test_two_sample_g_test_with_an_empty_sample_is_uninformative() -> None:
    for live, ref in (([0, 0], [3, 4]), ([3, 4], [0, 0])):
        result = g_test_two_sample(live, ref)
        assert (result.statistic, result.dof, result.p_value) == (0.0, 0, 1.0)


def test_two_sample_g_test_of_identical_proportions_is_zero_with_p_one() -> None:
    result = g_test_two_sample([10, 20, 30], [20, 40, 60])
    assert result.statistic == pytest.approx(0.0, abs=1e-12)
    assert result.p_value == pytest.approx(1.0)


# --- one-sample G-test ------------------------------------------------------------------


def test_one_sample_g_test_by_hand() -> None:
    # live [30, 10] against q = [.5, .5]: expected [20, 20].
    # G = 2·(30 ln 1.5 + 10 ln .5) = 2·(12.1639532432 - 6.9314718056) = 10.4649628753, 1 dof,
    # p = erfc(√(G/2)) = 0.0012165999.
    result = g_test_one_sample([30, 10], [0.5, 0.5])
    assert result.statistic == pytest.approx(10.4649628753, abs=1e-9)
    assert result.dof == 1
    assert result.p_value == pytest.approx(0.0012165999, abs=1e-9)


@PROPERTY
@given(pair=count_pairs())
def test_one_sample_g_test_agrees_with_scipy_power_divergence(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    live, ref = pair
    q = probabilities(ref + (ref == 0) * (live > 0))  # positive wherever live has rows
    support = q > 0
    result = g_test_one_sample(live, q)
    assert result.dof == support.sum() - 1
    if support.sum() < 2:
        assert (result.statistic, result.p_value) == (0.0, 1.0)
        return
    n = live.sum()
    expected = scipy.stats.power_divergence(live[support], n * q[support], lambda_="log-likelihood")
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(_scipy_p_value(expected), rel=1e-6, abs=1e-12)
    # The G statistic is the plug-in KL scaled by 2n.
    assert result.statistic == pytest.approx(
        2 * n * kl_divergence(probabilities(live), q), rel=1e-9, abs=1e-9
    )


def test_one_sample_g_test_needs_q_positive_where_live_has_rows() -> None:
    with pytest.raises(ValueError, match="positive"):
        g_test_one_sample([1, 1], [1.0, 0.0])


def test_one_sample_g_test_of_no_live_rows_is_zero_with_p_one() -> None:
    result = g_test_one_sample([0, 0, 0], [0.2, 0.3, 0.5])
    assert (result.statistic, result.dof, result.p_value) == (0.0, 2, 1.0)


# --- expected KL under no drift ---------------------------------------------------------


def test_expected_null_kl_formula_by_hand() -> None:
    # (k-1)/(2n): 10/(2·100) = 0.05; a sampled reference adds 10/(2·1000) = 0.005.
    assert expected_null_kl(100, 11) == pytest.approx(0.05)
    assert expected_null_kl(100, 11, 1000) == pytest.approx(0.055)


@pytest.mark.parametrize(("n", "k"), [(0, 10), (-5, 10), (100, 1), (100, 0)])
def test_expected_null_kl_is_zero_without_rows_or_with_one_bin(n: int, k: int) -> None:
    assert expected_null_kl(n, k, 1000) == 0.0


def test_expected_null_kl_matches_simulation_against_a_fixed_reference() -> None:
    # Under no drift 2n·KL(P̂‖Q) ~ χ²(k-1): mean KL ≈ (k-1)/(2n) = 9/4000 = 0.00225.
    rng = np.random.default_rng(20240601)
    q = np.array([0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2])
    n, reps = 2000, 4000
    p = rng.multinomial(n, q, size=reps) / n
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / q), 0.0)
    kl = terms.sum(axis=1)
    assert kl.mean() == pytest.approx(expected_null_kl(n, q.size), rel=0.05)


def test_expected_null_kl_matches_simulation_against_a_sampled_reference() -> None:
    # Both sides sampled: mean KL ≈ (k-1)/2·(1/n + 1/N) = 4/2·(1/500 + 1/2000) = 0.005.
    rng = np.random.default_rng(7)
    q = np.array([0.1, 0.2, 0.2, 0.25, 0.25])
    n, big_n, reps = 500, 2000, 4000
    p = rng.multinomial(n, q, size=reps) / n
    q_hat = rng.multinomial(big_n, q, size=reps) / big_n
    assert np.all(q_hat > 0)  # no smoothing needed at these sizes
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / q_hat), 0.0)
    kl = terms.sum(axis=1)
    assert kl.mean() == pytest.approx(expected_null_kl(n, q.size, big_n), rel=0.05)


@PROPERTY
@given(pair=count_pairs())
def test_g_test_p_value_is_bit_for_bit_scipys_chi2_tail(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    """scipy.special.chdtrc (no scipy.stats import at start-up) gives chi2.sf's exact bits."""
    live, ref = pair
    t = g_test_two_sample(live, ref)
    if t.dof > 0:
        assert t.p_value == min(1.0, max(0.0, float(scipy.stats.chi2.sf(t.statistic, t.dof))))


_CHI2_X = [0.0, 1e-300, 1e-12, 1e-3, 0.5, 1.0, 2.5, 9.9, 50.0, 333.3, 1e3, 1e4, 1e6, math.inf]
_CHI2_DOF = [1, 2, 3, 4, 9, 10, 49, 99, 999, 10_000]


@pytest.mark.parametrize("dof", _CHI2_DOF)
def test_chi2_sf_is_bit_for_bit_scipy_stats(dof: int) -> None:
    """chi2_sf (scipy.special.chdtrc) returns exactly what scipy.stats.chi2.sf returns."""
    xs = [*_CHI2_X, -1.0, *np.random.default_rng(dof).gamma(2.0, dof, 200).tolist()]
    for x in xs:
        assert chi2_sf(x, dof) == float(scipy.stats.chi2.sf(x, dof)), (x, dof)


@pytest.mark.parametrize("dof", _CHI2_DOF)
def test_chi2_isf_is_bit_for_bit_scipy_stats(dof: int) -> None:
    """chi2_isf (scipy.special.chdtri) returns exactly what scipy.stats.chi2.isf returns."""
    ps = [0.0, 1e-300, 1e-12, 0.001, 0.01, 0.05, 0.5, 0.999, 1.0]
    for p in [*ps, *np.random.default_rng(dof).random(200).tolist()]:
        assert chi2_isf(p, dof) == float(scipy.stats.chi2.isf(p, dof)), (p, dof)


def test_chi2_sf_is_nan_for_nan_like_scipy() -> None:
    """A NaN statistic stays NaN, as in scipy.stats (never silently 0 or 1)."""
    assert math.isnan(chi2_sf(math.nan, 3))
    assert math.isnan(float(scipy.stats.chi2.sf(math.nan, 3)))
