"""Threshold policies: G-test p-values, expected null KL, calibration, corrections, decisions."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from driftmon.core.divergence import probabilities, smoothed_reference
from driftmon.core.drift import DriftScores, score
from driftmon.core.histogram import Histogram
from driftmon.core.stats import expected_null_kl, g_test_one_sample, g_test_two_sample
from driftmon.core.status import Status
from driftmon.core.thresholds import (
    MIN_ROWS_PER_BIN,
    CalibratedPolicy,
    Calibration,
    Correction,
    Decision,
    PolicyInput,
    SignificancePolicy,
    StaticPolicy,
    ThresholdPolicy,
    adjust_p_values,
    calibrate,
    decide,
    kl_rows,
    kl_test,
    min_windows,
    needs_recalibration,
    raw_p_cutoff,
)
from driftmon.core.thresholds.decision import MIN_LIVE_ROWS

UNIFORM_10 = np.full(10, 20_000)  # a 200,000-row reference over 10 equal bins


def scores_of(live: Any, ref: Any, reference_is_sample: bool = True) -> DriftScores:
    s = score(Histogram(np.asarray(live)), Histogram(np.asarray(ref)), 0.5, reference_is_sample)
    assert s is not None
    return s


def scores_with_p(p: float, n: int = 1_000, big_n: int = 200_000, k: int = 10) -> DriftScores:
    """Scores whose KL-form G-test p-value is ``p`` (two-sample, k equally likely bins)."""
    n_eff = n * big_n / (n + big_n)
    q = 1 + (k + 1) / 6 * (1 / n + 1 / big_n - 1 / (n + big_n))
    kl = q * scipy.stats.chi2.isf(p, k - 1) / (2 * n_eff)
    return DriftScores(
        kl_divergence=kl,
        entropy=0.0,
        cross_entropy=kl,
        js_divergence=0.0,
        psi=0.0,
        g_statistic=2 * n_eff * kl,
        degrees_of_freedom=k - 1,
        p_value=p,
        expected_kl=expected_null_kl(n, k, big_n),
        live_rows=n,
        reference_rows=big_n,
    )


# --- the G-tests in driftmon.core.stats against scipy ---------------------------------------


@pytest.mark.parametrize(
    ("live", "ref"),
    [
        ([30, 10, 7, 0], [20, 20, 1, 3]),
        ([120, 95, 80, 60, 45], [1_000, 1_100, 900, 700, 300]),
        ([5, 0, 3, 2, 9, 1], [40, 12, 0, 30, 50, 8]),
    ],
)
def test_two_sample_g_test_p_value_matches_scipy_chi2_contingency(
    live: list[int], ref: list[int]
) -> None:
    table = np.array([live, ref])
    table = table[:, table.sum(axis=0) > 0]
    want = scipy.stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    got = g_test_two_sample(live, ref)
    assert got.statistic == pytest.approx(want.statistic, rel=1e-12)
    assert got.dof == want.dof
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)


@pytest.mark.parametrize(
    ("live", "q"),
    [
        ([30, 10, 7, 3], [0.4, 0.3, 0.2, 0.1]),
        ([12, 0, 33, 5, 50], [0.1, 0.05, 0.35, 0.1, 0.4]),
    ],
)
def test_one_sample_g_test_p_value_matches_scipy_power_divergence(
    live: list[int], q: list[float]
) -> None:
    n = sum(live)
    want = scipy.stats.power_divergence(live, n * np.array(q), lambda_="log-likelihood")
    got = g_test_one_sample(live, q)
    assert got.statistic == pytest.approx(want.statistic, rel=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)


def test_kl_form_test_is_the_one_sample_g_test_divided_by_williams_q() -> None:
    """One-sample: 2n·KL is G exactly, so p = χ²(k-1).sf(G/q) with q = 1 + (k+1)/(6n)."""
    live, ref = [30, 10, 7, 3], [400, 300, 200, 100]
    s = scores_of(live, ref, reference_is_sample=False)
    t = kl_test(s, reference_is_sample=False)
    g = g_test_one_sample(live, smoothed_reference(ref, live)).statistic
    assert 2 * 50 * s.kl_divergence == pytest.approx(g, rel=1e-12)
    assert t.williams == pytest.approx(1 + 5 / 300)  # (4+1)/(6·50)
    assert t.p_value == pytest.approx(scipy.stats.chi2.sf(g / t.williams, 3), rel=1e-12)


def test_kl_form_two_sample_test_tracks_scipys_g_test_for_a_large_reference() -> None:
    """G ≈ 2·n_eff·KL: p-values agree to a few percent, closer without Williams' q."""
    rng = np.random.default_rng(3)
    ref = rng.multinomial(200_000, np.full(10, 0.1))
    for shift in (0.0, 0.01, 0.03):
        p = np.full(10, 0.1) + shift * np.linspace(-1, 1, 10)
        live = rng.multinomial(2_000, p / p.sum())
        s = scores_of(live, ref)
        t = kl_test(s)
        g_uncorrected = 2 * t.n_eff * s.kl_divergence
        assert g_uncorrected == pytest.approx(s.g_statistic, rel=0.02)
        assert t.p_value == pytest.approx(s.p_value, rel=0.1, abs=1e-6)


# --- KL of many windows, and the expected no-drift KL --------------------------------------


def test_vectorised_kl_equals_driftmon_score_including_smoothed_bins() -> None:
    rng = np.random.default_rng(11)
    ref = np.array([0, 5, 100, 0, 30, 7, 0])
    live = rng.integers(0, 6, size=(200, ref.size))
    live[:, 0] = 0  # keep some windows entirely in reference-supported bins
    live = live[live.sum(axis=1) > 0]
    got = kl_rows(live, ref)
    want = [scores_of(row, ref).kl_divergence for row in live]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("n", "big_n"), [(100, 200_000), (1_000, 2_000)])
def test_expected_null_kl_matches_simulation(n: int, big_n: int) -> None:
    """Mean simulated KL(P̂‖Q̂) with both sides sampled ≈ (k-1)/2·(1/n + 1/N), within 5%."""
    rng = np.random.default_rng(5)
    q = np.array([0.05, 0.1, 0.1, 0.15, 0.2, 0.4])
    live = rng.multinomial(n, q, size=20_000)
    ref = rng.multinomial(big_n, q, size=20_000)
    assert kl_rows(live, ref).mean() == pytest.approx(expected_null_kl(n, 6, big_n), rel=0.05)


# --- calibration ------------------------------------------------------------------------------


def test_calibrated_thresholds_are_monotone_in_the_quantile() -> None:
    """Same seed, same simulated null: each higher level picks a strictly larger KL."""
    ref = np.array([5_000, 3_000, 1_000, 500, 300, 200])
    levels = (0.5, 0.9, 0.95, 0.99, 0.995, 0.999)
    kl: dict[float, float] = {}
    for lo, hi in itertools.pairwise(levels):
        cal = calibrate(ref, 500, CalibratedPolicy(lo, hi, windows=20_000), seed=1)
        assert kl.setdefault(lo, cal.quantiles[lo]) == cal.quantiles[lo]
        kl[hi] = cal.quantiles[hi]
    values = [kl[lv] for lv in levels]
    assert all(a < b for a, b in itertools.pairwise(values))


def test_calibration_is_deterministic_for_a_seed() -> None:
    ref = np.array([700, 200, 100, 0, 50])
    policy = CalibratedPolicy(0.99, 0.999, windows=10_000)
    a, b = calibrate(ref, 300, policy, seed=42), calibrate(ref, 300, policy, seed=42)
    assert a == b
    assert calibrate(ref, 300, policy, seed=43).quantiles != a.quantiles


def test_calibration_quantile_matches_the_chi_square_quantile_for_a_large_window() -> None:
    """At n = 2000 over 10 bins, 2·n_eff·KL ~ χ²(9): the 0.99 quantile is χ²₉(0.99)/(2·n_eff)."""
    cal = calibrate(UNIFORM_10, 2_000, CalibratedPolicy(0.9, 0.99, windows=20_000), seed=7)
    n_eff = 2_000 * 200_000 / 202_000
    for level in (0.9, 0.99):
        want = scipy.stats.chi2.ppf(level, 9) / (2 * n_eff)
        assert cal.quantiles[level] == pytest.approx(want, rel=0.05)


def test_calibration_includes_reference_noise_when_the_reference_is_a_sample() -> None:
    """With n = N the null KL doubles: (1/n + 1/N) vs 1/n for the window-only bootstrap."""
    ref = np.full(10, 1_000)
    policy = CalibratedPolicy(0.9, 0.99, windows=10_000)
    two = calibrate(ref, 10_000, policy, seed=1)
    one = calibrate(ref, 10_000, policy, seed=1, reference_is_sample=False)
    assert two.quantiles[0.9] / one.quantiles[0.9] == pytest.approx(2.0, rel=0.1)


def test_calibration_round_trips_through_json() -> None:
    cal = calibrate(UNIFORM_10, 1_000, CalibratedPolicy(0.99, 0.999, windows=10_000), seed=9)
    data = json.loads(json.dumps(cal.to_dict()))
    assert Calibration.from_dict(data) == cal


def test_calibration_refuses_a_reference_too_small() -> None:
    policy = CalibratedPolicy(0.9, 0.99, windows=1_000)
    with pytest.raises(ValueError, match="reference too small"):
        calibrate([10, 5, 4], 50, policy)  # 19 rows over 3 bins: needs max(10·3, 20) = 30
    calibrate([15, 10, 5, 0], 50, policy)  # exactly 30; empty bins do not count


@pytest.mark.parametrize("rows", [0, -3])
def test_calibration_refuses_a_non_positive_window(rows: int) -> None:
    with pytest.raises(ValueError, match="window_rows"):
        calibrate(UNIFORM_10, rows, CalibratedPolicy(0.9, 0.99))


def test_a_quantile_needs_ten_windows_beyond_it() -> None:
    # floor((1 - q)·(W + 1)) ≥ 10: 0.99 needs W ≥ 999, 0.999 needs W ≥ 9,999.
    assert (min_windows(0.99), min_windows(0.999), min_windows(0.9)) == (999, 9_999, 99)
    CalibratedPolicy(0.99, 0.999, windows=9_999)
    with pytest.raises(ValueError, match=r"quantile_critical 0\.999 .* 9999"):
        CalibratedPolicy(0.99, 0.999, windows=9_998)
    with pytest.raises(ValueError, match="quantile_warning"):
        CalibratedPolicy(0.99, 0.99, windows=998)


@pytest.mark.parametrize(
    ("ratio", "stale"), [(0.8, False), (1.0, False), (1.25, False), (0.79, True), (1.26, True)]
)
def test_needs_recalibration_outside_0_8_to_1_25_times_the_calibrated_rows(
    ratio: float, stale: bool
) -> None:
    cal = calibrate(UNIFORM_10, 1_000, CalibratedPolicy(0.9, 0.99), seed=0)
    assert needs_recalibration(cal, round(1_000 * ratio)) is stale


def test_needs_recalibration_when_the_policy_changed() -> None:
    cal = calibrate(UNIFORM_10, 1_000, CalibratedPolicy(0.9, 0.99), seed=0)
    assert not needs_recalibration(cal, 1_000, CalibratedPolicy(0.9, 0.99))
    assert needs_recalibration(cal, 1_000, CalibratedPolicy(0.95, 0.99))
    assert needs_recalibration(cal, 1_000, CalibratedPolicy(0.9, 0.99, windows=2_000))


# --- multiple-testing corrections ------------------------------------------------------------

FAMILY = [0.01, 0.04, 0.03, 0.005]


def test_bonferroni_by_hand() -> None:
    # m = 4: min(1, 4·p) = [0.04, 0.16, 0.12, 0.02]; cut-off at α = 0.03 is 0.03/4 = 0.0075.
    np.testing.assert_allclose(adjust_p_values(FAMILY, "bonferroni"), [0.04, 0.16, 0.12, 0.02])
    assert raw_p_cutoff(FAMILY, 0, 0.03, "bonferroni") == pytest.approx(0.0075)
    assert adjust_p_values([0.5, 0.9], "bonferroni").tolist() == [1.0, 1.0]


def test_benjamini_hochberg_by_hand() -> None:
    # Sorted: 0.005, 0.01, 0.03, 0.04 (ranks 1..4); m·p/rank = 0.02, 0.02, 0.04, 0.04;
    # running minimum from the top leaves them so. In input order: [0.02, 0.04, 0.04, 0.02].
    np.testing.assert_allclose(adjust_p_values(FAMILY, "bh"), [0.02, 0.04, 0.04, 0.02])
    # At α = 0.03: p_(j) ≤ j·0.0075 holds for j = 1 (0.005 ≤ 0.0075), j = 2 (0.01 ≤ 0.015),
    # not j = 3 (0.03 > 0.0225) nor j = 4 (0.04 > 0.03): R = 2 rejections.
    # Rejected tests' cut-off is α·R/m = 0.015. The test at 0.03 needs 0.0225 (rank 3). The
    # test at 0.04 moved to 0.03 makes all four p-values ≤ 4·0.0075, so it is rejected there
    # (and takes the 0.03 test with it): its cut-off is 0.03, not α·(R+1)/m.
    cutoffs = [raw_p_cutoff(FAMILY, i, 0.03, "bh") for i in range(4)]
    np.testing.assert_allclose(cutoffs, [0.015, 0.03, 0.0225, 0.015])


def test_benjamini_hochberg_steps_up_past_a_failing_rank() -> None:
    # p = [0.02, 0.03], m = 2: m·p/rank = [0.04, 0.03]; the running minimum from the top
    # lowers rank 1 to 0.03, so adjusted = [0.03, 0.03].
    np.testing.assert_allclose(adjust_p_values([0.02, 0.03], "bh"), [0.03, 0.03])
    # p = [0.03, 0.04] at α = 0.05: rank 1 fails its own bound (0.03 > 1·0.05/2 = 0.025) but
    # rank 2 passes (0.04 ≤ 2·0.05/2), so R = 2 and both are rejected (step-up).
    np.testing.assert_allclose(adjust_p_values([0.03, 0.04], "bh"), [0.04, 0.04])
    assert raw_p_cutoff([0.03, 0.04], 0, 0.05, "bh") == pytest.approx(0.05)


def test_benjamini_hochberg_cut_off_accounts_for_cascading_rejections() -> None:
    """Issue 9: p = [0.04, 0.045, 0.9], α = 0.05: 0.05 would be rejected, not just 0.0167."""
    p = [0.04, 0.045, 0.9]
    assert raw_p_cutoff(p, 2, 0.05, "bh") == pytest.approx(0.05)
    # Moved to 0.05 it completes three p-values ≤ 3·0.05/3 and all three are rejected.
    assert (adjust_p_values([0.04, 0.045, 0.05], "bh") <= 0.05).all()
    assert raw_p_cutoff(p, 0, 0.05, "bh") == pytest.approx(0.05 / 3)


def test_benjamini_hochberg_cut_off_is_the_largest_p_value_still_rejected() -> None:
    """Brute force over random families: at the cut-off rejected, just above it not."""
    rng = np.random.default_rng(12)
    for _ in range(300):
        m = int(rng.integers(1, 12))
        p = rng.uniform(0, 0.2, m) ** rng.uniform(0.5, 3)
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        for i in range(m):
            cutoff = raw_p_cutoff(p, i, alpha, "bh")
            at, above = p.copy(), p.copy()
            at[i], above[i] = cutoff * (1 - 1e-12), cutoff * (1 + 1e-9)
            assert adjust_p_values(at, "bh")[i] <= alpha
            assert adjust_p_values(above, "bh")[i] > alpha
            assert (p[i] <= cutoff) == (adjust_p_values(p, "bh")[i] <= alpha * (1 + 1e-12))


def test_decide_applies_benjamini_hochberg_across_the_corrected_features_of_a_run() -> None:
    bh = SignificancePolicy(alpha_warning=0.03, alpha_critical=0.001, correction="bh")
    inputs = [PolicyInput(f"f{i}", bh, scores_with_p(p)) for i, p in enumerate(FAMILY)]
    # An uncorrected feature is not part of the family and keeps its raw p-value.
    inputs.append(PolicyInput("raw", SignificancePolicy(0.03, 0.001), scores_with_p(0.02)))
    decisions = decide(inputs)
    adjusted = [d.p_value_adjusted for d in decisions]
    assert adjusted[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02], rel=1e-6)
    assert adjusted[4] is None  # no correction: nothing adjusted
    assert [d.p_value for d in decisions] == pytest.approx([*FAMILY, 0.02], rel=1e-6)
    assert [d.status for d in decisions] == [
        Status.WARNING,
        Status.OK,
        Status.OK,
        Status.WARNING,
        Status.WARNING,
    ]
    # The exported warning threshold is the KL equivalent of the BH raw-p cut-off.
    for d, cutoff in zip(decisions, [0.015, 0.03, 0.0225, 0.015, 0.03], strict=True):
        assert d.thresholds is not None
        want = scores_with_p(cutoff).kl_divergence
        assert d.thresholds.warning == pytest.approx(want, rel=1e-9)


def test_decide_applies_bonferroni_to_the_family_size() -> None:
    bonf = SignificancePolicy(alpha_warning=0.03, alpha_critical=0.001, correction="bonferroni")
    decisions = decide([PolicyInput(f"f{i}", bonf, scores_with_p(p)) for i, p in enumerate(FAMILY)])
    assert [d.p_value_adjusted for d in decisions] == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert [d.status for d in decisions] == [Status.OK, Status.OK, Status.OK, Status.WARNING]


# --- bad parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: StaticPolicy(-0.1, 0.2), "warning"),
        (lambda: StaticPolicy(0.1, math.nan), "critical"),
        (lambda: StaticPolicy(0.3, 0.2), "warning"),
        (lambda: SignificancePolicy(0.0, 0.001), "alpha_warning"),
        (lambda: SignificancePolicy(1.0, 0.001), "alpha_warning"),
        (lambda: SignificancePolicy(0.01, -0.1), "alpha_critical"),
        (lambda: SignificancePolicy(0.01, 0.05), "alpha_critical"),
        (lambda: SignificancePolicy(0.01, 0.001, min_effect=-1), "min_effect"),
        (lambda: SignificancePolicy(0.01, 0.001, min_effect=math.inf), "min_effect"),
        (lambda: SignificancePolicy(0.01, 0.001, correction="holm"), "correction"),  # type: ignore[arg-type]
        (lambda: CalibratedPolicy(0.0, 0.99), "quantile_warning"),
        (lambda: CalibratedPolicy(0.9, 1.0), "quantile_critical"),
        (lambda: CalibratedPolicy(0.99, 0.9), "quantile_warning"),
        (lambda: CalibratedPolicy(0.9, 0.99, windows=0), "windows"),
        (lambda: CalibratedPolicy(0.9, 0.99, windows=2.5), "windows"),  # type: ignore[arg-type]
        (lambda: CalibratedPolicy(0.9, 0.99, window_rows=0), "window_rows"),
    ],
)
def test_bad_policy_parameters_raise_value_error_naming_the_field(make: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


# --- decisions ------------------------------------------------------------------------------

SIG = SignificancePolicy(alpha_warning=0.01, alpha_critical=0.001)
CAL_POLICY = CalibratedPolicy(0.99, 0.999, windows=10_000)


def test_tiny_windows_are_insufficient_data_never_an_alert() -> None:
    # 15 rows over 10 used bins: fewer than max(20, 2 per bin) rows, however far off.
    live = np.zeros(10, dtype=int)
    live[0] = 15
    s = scores_of(live, UNIFORM_10)
    assert s.kl_divergence > 2
    cal = calibrate(UNIFORM_10, 15, CAL_POLICY, seed=0)
    sig, calib, static = decide(
        [PolicyInput("a", SIG, s), PolicyInput("b", CAL_POLICY, s, cal),
         PolicyInput("c", StaticPolicy(0.05, 0.1), s)]
    )  # fmt: skip
    assert sig.status is calib.status is Status.INSUFFICIENT_DATA
    assert "fewer than 20" in sig.detail
    assert sig.thresholds is not None
    assert sig.p_value_adjusted is None
    assert static.status is Status.CRITICAL  # the static policy knows nothing of sample size


def test_a_tiny_window_is_insufficient_data_even_against_a_larger_calibration() -> None:
    cal = calibrate(UNIFORM_10, 1_000, CAL_POLICY, seed=0)
    (d,) = decide(
        [PolicyInput("a", CAL_POLICY, scores_of([5, 5, 0, 0, 0, 0, 0, 0, 0, 0], UNIFORM_10), cal)]
    )
    assert d.status is Status.INSUFFICIENT_DATA
    assert d.thresholds is None  # 10 rows is far outside the calibrated 1,000: none applies


def test_the_rows_per_bin_rule_counts_used_bins() -> None:
    k = 30
    need = int(MIN_ROWS_PER_BIN * k)
    ref = np.full(k, 1_000)
    rng = np.random.default_rng(0)
    below = scores_of(rng.multinomial(need - 1, np.full(k, 1 / k)), ref)
    at = scores_of(rng.multinomial(need, np.full(k, 1 / k)), ref)
    assert decide([PolicyInput("a", SIG, below)])[0].status is Status.INSUFFICIENT_DATA
    assert decide([PolicyInput("a", SIG, at)])[0].status is not Status.INSUFFICIENT_DATA


def test_no_rows_is_insufficient_data() -> None:
    cal = calibrate(UNIFORM_10, 1_000, CAL_POLICY, seed=0)
    decisions = decide(
        [PolicyInput("a", SIG, None), PolicyInput("b", CAL_POLICY, None, cal),
         PolicyInput("c", StaticPolicy(0.05, 0.1), None)]
    )  # fmt: skip
    assert {d.status for d in decisions} == {Status.INSUFFICIENT_DATA}
    assert decisions[0].thresholds is None


def test_static_policy_classifies_kl() -> None:
    s = scores_of([60, 40], [50, 50])  # KL = 0.6 ln 1.2 + 0.4 ln 0.8 = 0.020135...
    (d,) = decide([PolicyInput("a", StaticPolicy(0.02, 0.03), s)])
    assert d.status is Status.WARNING
    assert d.thresholds is not None
    assert d.thresholds.policy == "static"


def test_min_effect_needs_drift_shown_to_exceed_it_not_merely_significant() -> None:
    """At 100,000 rows a 1e-6 p-value is a tiny drift: significant, yet not shown > 0.01."""
    s = scores_with_p(1e-6, n=100_000)
    policy = SignificancePolicy(0.01, 0.001, min_effect=0.01)
    (d,) = decide([PolicyInput("a", policy, s)])
    assert d.thresholds is not None
    assert s.expected_kl + 0.01 < d.thresholds.warning < d.thresholds.critical
    assert d.status is Status.OK
    assert d.p_value is not None
    assert d.p_value > 0.5  # KL is far below the 0.01 effect: no evidence against "≤ 0.01"
    (d0,) = decide([PolicyInput("a", SIG, s)])
    assert d0.status is Status.CRITICAL


def test_min_effect_at_5000_rows_keeps_a_warning_tier() -> None:
    """Issue 9: min_effect 0.01 at 5,000 rows gave warning == critical == 0.01099."""
    policy = SignificancePolicy(0.01, 0.001, min_effect=0.01)
    (d,) = decide([PolicyInput("a", policy, scores_with_p(0.5, n=5_000))])
    assert d.thresholds is not None
    assert d.thresholds.warning < d.thresholds.critical
    # Between them a feature is a warning, not a page.
    mid = (d.thresholds.warning + d.thresholds.critical) / 2
    s = dataclasses.replace(scores_with_p(0.5, n=5_000), kl_divergence=mid)
    assert decide([PolicyInput("a", policy, s)])[0].status is Status.WARNING


@pytest.mark.parametrize("min_effect", [0.0, 0.001, 0.01, 0.1])
@pytest.mark.parametrize("correction", ["none", "bonferroni", "bh"])
def test_warning_threshold_is_strictly_below_critical_at_every_window_size(
    min_effect: float, correction: Correction
) -> None:
    """alpha.warning > alpha.critical: warning < critical from the smallest scored window up."""
    rng = np.random.default_rng(17)
    for k in (2, 10, 30, 200):
        smallest = max(MIN_LIVE_ROWS, math.ceil(MIN_ROWS_PER_BIN * k))
        sizes = np.unique(np.geomspace(smallest, 10_000_000, 25).astype(int))
        for n in sizes:
            for big_n in (int(n), 200_000, 10_000_000):
                alpha_c = float(rng.uniform(1e-5, 0.05))
                alpha_w = alpha_c * float(rng.uniform(1.05, 20))
                policy = SignificancePolicy(min(alpha_w, 0.5), alpha_c, min_effect, correction)
                s = scores_with_p(float(rng.uniform(0, 1)), n=int(n), big_n=big_n, k=k)
                others = [scores_with_p(float(p), big_n=big_n) for p in rng.uniform(0, 0.05, 3)]
                inputs = [PolicyInput(str(i), policy, x) for i, x in enumerate([s, *others])]
                d = decide(inputs)[0]
                assert d.status is not Status.INSUFFICIENT_DATA
                assert d.thresholds is not None
                assert d.thresholds.warning < d.thresholds.critical, (k, n, big_n, policy)


def test_the_exported_p_value_is_the_one_that_decided_the_status() -> None:
    """Williams-corrected KL-space p; with min_effect, the non-central (KL ≤ δ) p-value."""
    rng = np.random.default_rng(8)
    ref = rng.multinomial(20_000, np.full(30, 1 / 30))
    live = rng.multinomial(300, np.linspace(1, 1.6, 30) / np.linspace(1, 1.6, 30).sum())
    s = scores_of(live, ref)
    n_eff = 300 * 20_000 / 20_300
    q = 1 + 31 / 6 * (1 / 300 + 1 / 20_000 - 1 / 20_300)
    t = 2 * n_eff * s.kl_divergence / q
    assert s.p_value == pytest.approx(scipy.stats.chi2.sf(t, 29), rel=1e-12)
    (plain,) = decide([PolicyInput("a", SIG, s)])
    assert plain.p_value == s.p_value
    assert plain.p_value_adjusted is None
    effect = SignificancePolicy(0.01, 0.001, min_effect=0.02)
    (d,) = decide([PolicyInput("a", effect, s)])
    want = scipy.stats.ncx2.sf(t, 29, 2 * n_eff * 0.02 / q)
    assert d.p_value is not None
    assert d.p_value == pytest.approx(want, rel=1e-9)
    assert d.thresholds is not None
    for alpha, threshold in ((0.01, d.thresholds.warning), (0.001, d.thresholds.critical)):
        assert (d.p_value <= alpha) == (s.kl_divergence >= threshold)
        assert scipy.stats.ncx2.sf(2 * n_eff * threshold / q, 29, 2 * n_eff * 0.02 / q) == (
            pytest.approx(alpha, rel=1e-6)
        )


def test_min_effect_test_rejects_a_drift_of_exactly_min_effect_about_alpha_of_the_time() -> None:
    """The boundary of "true KL ≤ δ" is flagged at about the nominal rate (one-sample)."""
    k, n, delta = 10, 5_000, 0.01
    q = np.full(k, 1 / k)
    # p = q·(1 + a·z), z = ±1 alternately: KL(p‖q) ≈ a²/2; solve for KL = δ exactly.
    z = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
    a = scipy.optimize.brentq(
        lambda a: float(np.sum(q * (1 + a * z) * np.log(1 + a * z))) - delta, 1e-6, 0.9
    )
    p = q * (1 + a * z)
    policy = SignificancePolicy(0.05, 0.01, min_effect=delta)
    rng = np.random.default_rng(4)
    windows = rng.multinomial(n, p, size=4_000)
    ref = np.full(k, 10**9 // k)
    decisions = decide(
        [PolicyInput(str(i), policy, scores_of(w, ref, False), None, False)
         for i, w in enumerate(windows)]
    )  # fmt: skip
    rate = np.mean([d.status is not Status.OK for d in decisions])
    assert 0.02 <= rate <= 0.08


def test_a_single_used_bin_on_both_sides_is_ok() -> None:
    (d,) = decide([PolicyInput("a", SIG, scores_of([0, 500], [0, 9_000]))])
    assert d.status is Status.OK
    assert d.p_value == 1.0
    assert d.p_value_adjusted is None


def _random_windows(rng: np.random.Generator, count: int) -> list[DriftScores]:
    out = []
    for _ in range(count):
        k = int(rng.integers(2, 40))
        ref = rng.multinomial(int(rng.integers(500, 100_000)), rng.dirichlet(np.ones(k)))
        p = probabilities(ref) * rng.uniform(0.3, 1.7, k)
        live = rng.multinomial(int(rng.integers(20, 20_000)), p / p.sum())
        s = score(Histogram(live), Histogram(ref))
        if s is not None:
            out.append(s)
    return out


def test_status_always_equals_the_exported_thresholds_applied_to_kl() -> None:
    rng = np.random.default_rng(2024)
    scored = _random_windows(rng, 300)
    policies: list[ThresholdPolicy] = [
        SIG,
        SignificancePolicy(0.05, 0.01, min_effect=0.002, correction="bh"),
        SignificancePolicy(0.01, 0.0001, correction="bonferroni"),
        StaticPolicy(0.05, 0.1),
    ]
    inputs = [PolicyInput(str(i), policies[i % 4], s) for i, s in enumerate(scored)]
    decisions: list[Decision] = decide(inputs)
    drifting = 0
    for x, d in zip(inputs, decisions, strict=True):
        assert d.thresholds is not None
        assert x.scores is not None
        assert d.thresholds.warning <= d.thresholds.critical
        if d.status is Status.INSUFFICIENT_DATA:
            continue
        assert d.status is d.thresholds.classify(x.scores.kl_divergence)
        drifting += d.status is not Status.OK
        if isinstance(x.policy, SignificancePolicy):
            # The KL rule is the p-value rule: the deciding (adjusted) p-value ≤ α.
            p = d.p_value if d.p_value_adjusted is None else d.p_value_adjusted
            assert p is not None
            for alpha, level in ((x.policy.alpha_warning, 1), (x.policy.alpha_critical, 2)):
                if abs(p - alpha) > 1e-6 * alpha:
                    assert (d.status.level >= level) == (p <= alpha)
    assert 0 < drifting < len(decisions)


def test_calibrated_policy_applies_the_calibrations_quantiles_rescaled_to_the_window() -> None:
    cal = calibrate(UNIFORM_10, 1_000, CAL_POLICY, seed=3)
    rng = np.random.default_rng(0)
    for n in (1_000, 1_200):
        s = scores_of(rng.multinomial(n, np.full(10, 0.1)), UNIFORM_10)
        (d,) = decide([PolicyInput("a", CAL_POLICY, s, cal)])
        scale = expected_null_kl(n, 10, 200_000) / expected_null_kl(1_000, 10, 200_000)
        assert d.thresholds is not None
        assert d.thresholds.policy == "calibrated"
        assert d.thresholds.warning == pytest.approx(cal.quantiles[0.99] * scale)
        assert d.thresholds.critical == pytest.approx(cal.quantiles[0.999] * scale)
        assert d.status is d.thresholds.classify(s.kl_divergence)


def test_calibrated_policy_without_a_usable_calibration_is_an_error() -> None:
    s = scores_of(np.full(10, 100), UNIFORM_10)
    cal = calibrate(UNIFORM_10, 2_000, CAL_POLICY, seed=3)  # for 2,000-row windows
    missing, stale = decide([PolicyInput("a", CAL_POLICY, s), PolicyInput("b", CAL_POLICY, s, cal)])
    assert missing.status is stale.status is Status.ERROR
    assert "2000-row windows" in stale.detail


def test_significance_false_alarm_rate_at_a_small_window_is_near_alpha() -> None:
    """30 equal bins, n = 100: plain χ² gives ~2.5% at α = 1%; Williams' q brings it to ~1.4%."""
    rng = np.random.default_rng(99)
    ref = rng.multinomial(200_000, np.full(30, 1 / 30))
    windows = rng.multinomial(100, np.full(30, 1 / 30), size=3_000)
    decisions = decide([PolicyInput(str(i), SIG, scores_of(w, ref)) for i, w in enumerate(windows)])
    rate = np.mean([d.status is not Status.OK for d in decisions])
    assert 0.005 <= rate <= 0.02
