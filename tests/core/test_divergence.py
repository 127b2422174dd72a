"""Divergences of live P from reference Q: KL, entropies, JS, PSI and the smoothing of Q."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from driftmon.core.divergence import (
    DEFAULT_SMOOTHING,
    DIVERGENCES,
    cross_entropy,
    entropy,
    js_divergence,
    kl_divergence,
    probabilities,
    psi,
    smoothed_reference,
)
from driftmon.core.drift import score
from driftmon.core.histogram import Histogram

PROPERTY = settings(max_examples=200, deadline=None)


@st.composite
def count_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Live and reference counts on the same bins; each with at least one row."""
    k = draw(st.integers(1, 12))
    counts = st.lists(
        st.one_of(st.just(0), st.integers(0, 50), st.integers(0, 10**9)), min_size=k, max_size=k
    )
    live, ref = np.array(draw(counts)), np.array(draw(counts))
    assume(live.sum() > 0 and ref.sum() > 0)
    return live, ref


def _p_q(live: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return probabilities(live), smoothed_reference(ref, live)


# --- properties -------------------------------------------------------------------------


@PROPERTY
@given(pair=count_pairs())
def test_kl_is_finite_and_non_negative(pair: tuple[np.ndarray, np.ndarray]) -> None:
    kl = kl_divergence(*_p_q(*pair))
    assert math.isfinite(kl)
    assert kl >= 0.0


@PROPERTY
@given(pair=count_pairs())
def test_kl_of_a_distribution_from_itself_is_exactly_zero(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    live, _ = pair
    p, q = _p_q(live, live)
    assert kl_divergence(p, q) == 0.0
    assert js_divergence(p, q) == 0.0
    assert psi(p, q) == 0.0


@PROPERTY
@given(pair=count_pairs(), factor=st.integers(2, 1000))
def test_kl_is_zero_for_proportional_counts(
    pair: tuple[np.ndarray, np.ndarray], factor: int
) -> None:
    live, _ = pair
    assert kl_divergence(*_p_q(live, live * factor)) == pytest.approx(0.0, abs=1e-15)


@PROPERTY
@given(pair=count_pairs())
def test_kl_equals_cross_entropy_minus_entropy(pair: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = _p_q(*pair)
    h, hpq = entropy(p), cross_entropy(p, q)
    assert kl_divergence(p, q) == pytest.approx(hpq - h, rel=1e-12, abs=1e-12)
    assert hpq >= h - 1e-12


@PROPERTY
@given(pair=count_pairs())
def test_kl_agrees_with_scipy_entropy_on_smoothed_probabilities(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    p, q = _p_q(*pair)
    assert kl_divergence(p, q) == pytest.approx(scipy.stats.entropy(p, q), abs=1e-12)
    assert entropy(p) == pytest.approx(scipy.stats.entropy(p), abs=1e-12)


@PROPERTY
@given(pair=count_pairs())
def test_js_is_symmetric_and_bounded_by_ln_2(pair: tuple[np.ndarray, np.ndarray]) -> None:
    live, ref = pair
    p, q = probabilities(live), probabilities(ref)
    js = js_divergence(p, q)
    assert 0.0 <= js <= math.log(2) + 1e-12
    assert js == pytest.approx(js_divergence(q, p), abs=1e-15)
    m = 0.5 * (p + q)
    expected = 0.5 * scipy.stats.entropy(p, m) + 0.5 * scipy.stats.entropy(q, m)
    assert js == pytest.approx(expected, abs=1e-12)


@PROPERTY
@given(pair=count_pairs())
def test_psi_is_finite_non_negative_and_symmetric(pair: tuple[np.ndarray, np.ndarray]) -> None:
    live, ref = pair
    p, q = probabilities(live), probabilities(ref)
    value = psi(p, q)
    assert math.isfinite(value)
    assert value >= 0.0
    assert value == pytest.approx(psi(q, p), rel=1e-12, abs=1e-15)


@PROPERTY
@given(pair=count_pairs(), alpha=st.floats(1e-6, 100))
def test_smoothing_only_touches_empty_reference_bins_that_hold_live_mass(
    pair: tuple[np.ndarray, np.ndarray], alpha: float
) -> None:
    live, ref = pair
    q = smoothed_reference(ref, live, alpha)
    assert q.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(q[live > 0] > 0)
    assert np.all(q[(ref == 0) & (live == 0)] == 0)
    bumped = (ref == 0) & (live > 0)
    # Every untouched bin keeps its reference count over the enlarged total.
    total = ref.sum() + alpha * bumped.sum()
    np.testing.assert_allclose(q[~bumped], ref[~bumped] / total, rtol=1e-12)
    np.testing.assert_allclose(q[bumped], alpha / total, rtol=1e-12)


# --- worked examples --------------------------------------------------------------------


def test_kl_of_three_bins_by_hand() -> None:
    # P = [.5, .3, .2], Q = [.4, .4, .2]
    # KL = .5·ln(.5/.4) + .3·ln(.3/.4) + .2·ln(1)
    #    = .5·0.2231435513 + .3·(-0.2876820725) + 0
    #    = 0.1115717757 - 0.0863046217 = 0.0252671539
    p, q = probabilities([5, 3, 2]), probabilities([4, 4, 2])
    assert kl_divergence(p, q) == pytest.approx(0.0252671539, abs=1e-10)
    # H(P) = -(.5 ln .5 + .3 ln .3 + .2 ln .2) = 0.3465735903 + 0.3611918412 + 0.3218875825
    assert entropy(p) == pytest.approx(1.0296530140, abs=1e-10)
    # H(P,Q) = -(.5 ln .4 + .3 ln .4 + .2 ln .2) = 0.8·0.9162907319 + 0.3218875825
    assert cross_entropy(p, q) == pytest.approx(1.0549201680, abs=1e-10)


def test_js_of_three_bins_by_hand() -> None:
    # M = ½(P+Q) = [.45, .35, .2]
    # KL(P‖M) = .5·ln(.5/.45) + .3·ln(.3/.35) = 0.0526802578 - 0.0462452039 = 0.0064350539
    # KL(Q‖M) = .4·ln(.4/.45) + .4·ln(.4/.35) = -0.0471132143 + 0.0534125570 = 0.0062993428
    # JS = ½(0.0064350539 + 0.0062993428) = 0.0063671983
    p, q = probabilities([5, 3, 2]), probabilities([4, 4, 2])
    assert js_divergence(p, q) == pytest.approx(0.0063671983, abs=1e-10)


def test_psi_of_three_bins_by_hand() -> None:
    # PSI = (.5-.4)·ln(.5/.4) + (.3-.4)·ln(.3/.4) + 0 = .1·0.2231435513 + .1·0.2876820725
    #     = .1·ln(5/3) = 0.0510825624
    p, q = probabilities([5, 3, 2]), probabilities([4, 4, 2])
    assert psi(p, q) == pytest.approx(0.0510825624, abs=1e-10)


def test_psi_floors_a_bin_empty_on_one_side_at_epsilon() -> None:
    # P = [1, 0], Q = [.5, .5]; P's empty bin is floored at ε = 1e-4:
    # PSI = (1-.5)·ln(1/.5) + (1e-4-.5)·ln(1e-4/.5) = 0.3465735903 + 4.2577448764 = 4.6043184667
    assert psi(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(4.6043184667, 1e-9)


def test_psi_ignores_bins_empty_on_both_sides() -> None:
    p, q = probabilities([5, 3, 2, 0]), probabilities([4, 4, 2, 0])
    assert psi(p, q) == pytest.approx(0.0510825624, abs=1e-10)


def test_smoothing_of_an_empty_reference_bin_by_hand() -> None:
    # live [5, 3, 2, 0], reference [6, 4, 0, 0], α = 0.5: only bin 2 (empty, live mass) is
    # bumped; bin 3 is empty on both sides and stays 0.
    # Q = [6, 4, .5, 0] / 10.5 = [0.5714285714, 0.3809523810, 0.0476190476, 0]
    # KL = .5·ln(.5/0.5714285714) + .3·ln(.3/0.3809523810) + .2·ln(.2/0.0476190476)
    #    = .5·ln(.875) + .3·ln(.7875) + .2·ln(4.2)
    #    = -0.0667656963 - 0.0716675725 + 0.2870169051 = 0.1485836363
    live, ref = np.array([5, 3, 2, 0]), np.array([6, 4, 0, 0])
    q = smoothed_reference(ref, live)
    np.testing.assert_allclose(q, [6 / 10.5, 4 / 10.5, 0.5 / 10.5, 0.0], rtol=1e-15)
    assert kl_divergence(probabilities(live), q) == pytest.approx(0.1485836363, abs=1e-10)
    assert DEFAULT_SMOOTHING == 0.5


def test_kl_is_not_symmetric_on_a_known_pair() -> None:
    # KL(P‖Q) for P = [.5, .5], Q = [.9, .1]: .5·ln(.5/.9) + .5·ln(.5/.1) = .5·ln(25/9) = ln(5/3)
    #   = 0.5108256238
    # KL(Q‖P) = .9·ln(1.8) + .1·ln(.2) = 0.5290079984 - 0.1609437912 = 0.3680642072
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    assert kl_divergence(p, q) == pytest.approx(math.log(5 / 3), abs=1e-12)
    assert kl_divergence(q, p) == pytest.approx(0.3680642072, abs=1e-10)
    assert kl_divergence(p, q) != pytest.approx(kl_divergence(q, p))


def test_live_bins_with_zero_count_contribute_nothing() -> None:
    # P = [1, 0], Q = [.25, .75]: KL = 1·ln(1/.25) = ln 4; the p = 0 bin adds 0, not NaN.
    assert kl_divergence(np.array([1.0, 0.0]), np.array([0.25, 0.75])) == pytest.approx(
        math.log(4), abs=1e-15
    )


# --- inputs and registry ----------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, -1.0, math.nan, math.inf])
def test_smoothing_must_be_a_positive_finite_number(alpha: float) -> None:
    with pytest.raises(ValueError, match="smoothing"):
        smoothed_reference([1, 0], [1, 1], alpha)


def test_smoothing_rejects_histograms_of_different_sizes() -> None:
    with pytest.raises(ValueError, match="bins"):
        smoothed_reference([1, 2, 3], [1, 2])


def test_probabilities_of_no_rows_stay_all_zero() -> None:
    p = probabilities([0, 0, 0])
    assert p.tolist() == [0.0, 0.0, 0.0]
    assert entropy(p) == 0.0


def test_registry_names_each_divergence_after_its_function() -> None:
    assert set(DIVERGENCES) == {"kl_divergence", "js_divergence", "psi"}
    p, q = probabilities([5, 3, 2]), probabilities([4, 4, 2])
    for name, d in DIVERGENCES.items():
        assert d.name == name
        assert d.description
        assert d.fn(p, q) == {"kl_divergence": kl_divergence, "js_divergence": js_divergence,
                              "psi": psi}[name](p, q)  # fmt: skip


# --- JS and PSI as scored: raw reference proportions, not the smoothed Q -------------------


def _hand_psi(live: np.ndarray, ref: np.ndarray, eps: float = 1e-4) -> float:
    """PSI written out: raw proportions, each floored at ε, over bins used on either side."""
    total = 0.0
    for a, b in zip(live / live.sum(), ref / ref.sum(), strict=True):
        if a == 0 and b == 0:
            continue
        a, b = max(a, eps), max(b, eps)
        total += (a - b) * math.log(a / b)
    return total


@PROPERTY
@given(pair=count_pairs())
def test_scored_js_is_scipys_jensen_shannon_distance_squared(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    live, ref = pair
    s = score(Histogram(live), Histogram(ref))
    assert s is not None
    want = scipy.spatial.distance.jensenshannon(live / live.sum(), ref / ref.sum()) ** 2
    assert s.js_divergence == pytest.approx(want, rel=1e-9, abs=1e-12)


@PROPERTY
@given(pair=count_pairs())
def test_scored_psi_is_the_epsilon_floored_psi_of_the_raw_proportions(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    live, ref = pair
    s = score(Histogram(live), Histogram(ref))
    assert s is not None
    assert s.psi == pytest.approx(_hand_psi(live, ref), rel=1e-9, abs=1e-12)


def test_js_and_psi_do_not_move_with_the_reference_row_count() -> None:
    """Issue 9: the same proportions with 100× the reference rows moved PSI 0.61 → 0.70."""
    live = np.array([500, 300, 150, 50])
    small, large = np.array([60, 30, 10, 0]), np.array([6_000, 3_000, 1_000, 0])
    a, b = score(Histogram(live), Histogram(small)), score(Histogram(live), Histogram(large))
    assert a is not None
    assert b is not None
    assert a.psi == b.psi == pytest.approx(_hand_psi(live, small), rel=1e-12)
    assert a.js_divergence == b.js_divergence
    assert a.kl_divergence != b.kl_divergence  # KL keeps its pseudo-count, which is in rows


def test_kl_entropy_and_cross_entropy_are_still_taken_against_the_smoothed_reference() -> None:
    live, ref = np.array([5, 3, 2, 0]), np.array([6, 4, 0, 0])
    s = score(Histogram(live), Histogram(ref))
    assert s is not None
    p, q = probabilities(live), smoothed_reference(ref, live)
    assert (s.kl_divergence, s.entropy, s.cross_entropy) == (
        kl_divergence(p, q),
        entropy(p),
        cross_entropy(p, q),
    )
