r"""The per-run decision: statuses and applied KL thresholds of every feature of one run.

``decide`` turns the scores of all features of one run into statuses and the KL thresholds
(nats) actually applied, so that whatever the policy, ``status == Thresholds.classify(KL)``
holds exactly for every scored feature.

``significance``: alert when drift is both statistically real and large enough to matter.
The test is the G-test written in KL space. For live n rows and reference N rows,

    G ≈ 2·n_eff·KL(P̂‖Q̂),   n_eff = n·N/(n+N)   (two-sample; n_eff = n when Q is exact)

(second-order Taylor expansion of the likelihood-ratio statistic around P = Q; exact for the
one-sample test), and G/q_W is referred to χ² with k-1 degrees of freedom, where q_W is
Williams' small-sample correction (Williams 1976, "Improved likelihood ratio tests for
complete contingency tables", Biometrika 63:33-37; Sokal & Rohlf, *Biometry*, 3rd ed.,
ch. 17) for the 2×k table, taking the bins as equally likely since only k is known here:

    q_W = 1 + (k+1)/6 · (1/n + 1/N - 1/(n+N))          (1 + (k+1)/(6n) when Q is exact)

so the p-value is ``chi2.sf(2·n_eff·KL/q_W, k-1)``. It equals ``DriftScores.p_value`` up
to the Taylor remainder and q_W (exactly, with q_W = 1, for the one-sample test). A severity
fires when that p-value, after the run's Bonferroni or Benjamini–Hochberg adjustment, is at
most alpha **and** KL - E[KL | no drift] ≥ min_effect. Both conditions are thresholds on KL:

    threshold = max(q_W·χ²_{k-1}.isf(α_eff) / (2·n_eff),  expected_kl + min_effect)

with α_eff the raw-p cut-off equivalent to the adjustment (α/m for Bonferroni; α·R/m for
Benjamini–Hochberg with R rejections at level α, α·(R+1)/m for a feature not rejected,
which is the p-value it would have needed). The status is decided on that KL threshold.
Measured (``benchmarks/thresholds.md``): without q_W, 30 equal bins at n = 100 give 2.5%
false alarms at α = 1%; with it 1.4%. q_W assumes equally likely bins, so on sparse tables
(many bins expecting < 1 row) the test is conservative (≈0.45% at α = 1% for 30 Zipf bins at
n = 100); the calibrated policy has no such bias.

A window is ``insufficient_data`` under the significance and calibrated policies when it
holds fewer than max(``MIN_LIVE_ROWS``, ``MIN_ROWS_PER_BIN``·k) rows for k used bins (20
rows, 2 per bin): too few for the χ² approximation and for any drift short of a landslide
to show. The static policy keeps classifying KL whatever the window size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from driftmon.core.drift import DriftScores
from driftmon.core.stats import chi2_isf, chi2_sf
from driftmon.core.status import Status, Thresholds
from driftmon.core.thresholds.calibration import Calibration, needs_recalibration
from driftmon.core.thresholds.corrections import adjust_p_values, raw_p_cutoff
from driftmon.core.thresholds.policies import (
    KL_FLOOR,
    CalibratedPolicy,
    SignificancePolicy,
    StaticPolicy,
    ThresholdPolicy,
)

MIN_ROWS_PER_BIN = 2.0
"""Fewer live rows than this per used bin is ``insufficient_data`` (significance, calibrated)."""
MIN_LIVE_ROWS = 20
"""Fewer live rows than this is ``insufficient_data`` whatever the bin count."""


@dataclass(frozen=True)
class PolicyInput:
    """One feature of a run: its policy, its scores (None: no rows) and its calibration.

    ``reference_is_sample`` must be what ``driftmon.core.drift.score`` was given.
    """

    feature: str
    policy: ThresholdPolicy
    scores: DriftScores | None
    calibration: Calibration | None = None
    reference_is_sample: bool = True


@dataclass(frozen=True)
class Decision:
    """A feature's status, the KL thresholds applied and why.

    ``thresholds`` is None only when no KL threshold can be stated: no rows under the
    significance policy, or no usable calibration (status ``error``, ``detail`` says why).
    ``p_value_adjusted`` is set for significance features that were tested.
    """

    feature: str
    status: Status
    thresholds: Thresholds | None
    p_value_adjusted: float | None
    detail: str


@dataclass(frozen=True)
class KLTest:
    """The G-test of one window written in KL space (see the module docstring)."""

    n_eff: float
    dof: int
    williams: float
    p_value: float

    def kl_threshold(self, alpha: float) -> float:
        """Smallest KL whose p-value is ≤ alpha: q_W·χ²_{dof}.isf(α) / (2·n_eff)."""
        return float(self.williams * chi2_isf(alpha, max(self.dof, 1)) / (2 * self.n_eff))


def kl_test(scores: DriftScores, reference_is_sample: bool = True) -> KLTest:
    """p = χ²_{k-1}.sf(2·n_eff·KL / q_W), Williams-corrected (see the module docstring)."""
    n, big_n = scores.live_rows, scores.reference_rows
    dof = scores.degrees_of_freedom
    k = dof + 1
    if reference_is_sample:
        n_eff = n * big_n / (n + big_n)
        williams = 1.0 + (k + 1) / 6.0 * (1.0 / n + 1.0 / big_n - 1.0 / (n + big_n))
    else:
        n_eff = float(n)
        williams = 1.0 + (k + 1) / (6.0 * n)
    statistic = 2.0 * n_eff * scores.kl_divergence / williams
    p = chi2_sf(statistic, dof) if dof > 0 else 1.0
    return KLTest(n_eff, dof, williams, min(1.0, max(0.0, p)))


def insufficiency(scores: DriftScores, reference_is_sample: bool = True) -> str | None:
    """Why a window is too small to test (None when it is not).

    Too small: fewer than ``MIN_LIVE_ROWS`` live rows, or fewer than ``MIN_ROWS_PER_BIN``
    rows per used bin (a bin holding live or reference rows) in the live window or, when
    the reference is a sample, in the reference.
    """
    k = scores.degrees_of_freedom + 1
    need = max(MIN_LIVE_ROWS, math.ceil(MIN_ROWS_PER_BIN * k))
    if scores.live_rows < need:
        return (
            f"{scores.live_rows} live rows over {k} used bins: fewer than {need} "
            f"(at least {MIN_LIVE_ROWS}, {MIN_ROWS_PER_BIN:g} per bin)"
        )
    if reference_is_sample and scores.reference_rows < need:
        return f"{scores.reference_rows} reference rows over {k} used bins: fewer than {need}"
    return None


def _significance_thresholds(
    scores: DriftScores, test: KLTest, policy: SignificancePolicy, alphas: tuple[float, float]
) -> Thresholds:
    floor = scores.expected_kl + policy.min_effect
    warning = max(test.kl_threshold(alphas[0]), floor, KL_FLOOR)
    critical = max(test.kl_threshold(alphas[1]), floor, KL_FLOOR, warning)
    return Thresholds(warning=warning, critical=critical, policy=policy.name)


def _fmt_thresholds(t: Thresholds) -> str:
    return f"warning {t.warning:.4g} / critical {t.critical:.4g} nats"


def decide(inputs: Sequence[PolicyInput]) -> list[Decision]:
    """Status and applied KL thresholds of every feature of one run, in input order.

    Significance features with a correction form one family across the run (those with
    enough data to test); each is adjusted by its own method over that family.
    """
    tests: list[KLTest | None] = []
    for x in inputs:
        ok = (
            isinstance(x.policy, SignificancePolicy)
            and x.scores is not None
            and insufficiency(x.scores, x.reference_is_sample) is None
        )
        tests.append(kl_test(x.scores, x.reference_is_sample) if ok and x.scores else None)
    family = [
        i
        for i, (x, t) in enumerate(zip(inputs, tests, strict=True))
        if t is not None and isinstance(x.policy, SignificancePolicy)
        if x.policy.correction != "none"
    ]
    family_p = np.array([t.p_value for i in family if (t := tests[i]) is not None])
    position = {i: j for j, i in enumerate(family)}
    out: list[Decision] = []
    for i, x in enumerate(inputs):
        if isinstance(x.policy, StaticPolicy):
            out.append(_decide_static(x, x.policy))
        elif isinstance(x.policy, SignificancePolicy):
            out.append(_decide_significance(x, x.policy, tests[i], family_p, position.get(i)))
        else:
            out.append(_decide_calibrated(x, x.policy))
    return out


def _decide_static(x: PolicyInput, policy: StaticPolicy) -> Decision:
    t = Thresholds(warning=policy.warning, critical=policy.critical, policy=policy.name)
    if x.scores is None:
        return Decision(x.feature, Status.INSUFFICIENT_DATA, t, None, "no rows to score")
    kl = x.scores.kl_divergence
    return Decision(x.feature, t.classify(kl), t, None, f"KL {kl:.4g} vs {_fmt_thresholds(t)}")


def _decide_significance(
    x: PolicyInput,
    policy: SignificancePolicy,
    test: KLTest | None,
    family_p: npt.NDArray[np.float64],
    position: int | None,
) -> Decision:
    s = x.scores
    if s is None:
        return Decision(x.feature, Status.INSUFFICIENT_DATA, None, None, "no rows to score")
    if test is None:
        why = insufficiency(s, x.reference_is_sample) or "not testable"
        t = _significance_thresholds(
            s,
            kl_test(s, x.reference_is_sample),
            policy,
            (policy.alpha_warning, policy.alpha_critical),
        )
        return Decision(x.feature, Status.INSUFFICIENT_DATA, t, None, why)
    if position is None:
        alphas = (policy.alpha_warning, policy.alpha_critical)
        p_adj = test.p_value
    else:
        alphas = (
            raw_p_cutoff(family_p, position, policy.alpha_warning, policy.correction),
            raw_p_cutoff(family_p, position, policy.alpha_critical, policy.correction),
        )
        p_adj = float(adjust_p_values(family_p, policy.correction)[position])
    t = _significance_thresholds(s, test, policy, alphas)
    correction = "" if position is None else f", {policy.correction} over {family_p.size}"
    detail = (
        f"KL {s.kl_divergence:.4g} vs {_fmt_thresholds(t)}; G-test p {test.p_value:.3g} "
        f"(adjusted {p_adj:.3g}{correction}), dof {test.dof}, n_eff {test.n_eff:.6g}, "
        f"Williams q {test.williams:.4f}, expected KL {s.expected_kl:.4g}"
    )
    return Decision(x.feature, t.classify(s.kl_divergence), t, p_adj, detail)


def _decide_calibrated(x: PolicyInput, policy: CalibratedPolicy) -> Decision:
    cal, s = x.calibration, x.scores
    if cal is None:
        return Decision(
            x.feature, Status.ERROR, None, None, "no calibration for the calibrated policy"
        )
    levels = (policy.quantile_warning, policy.quantile_critical)
    stale = next(
        (
            why
            for bad, why in (
                (any(lv not in cal.quantiles for lv in levels), "lacks the policy's quantiles"),
                (cal.windows != policy.windows, f"used {cal.windows} windows"),
                (
                    cal.reference_is_sample != x.reference_is_sample,
                    "treats the reference differently (sample vs exact)",
                ),
                (
                    s is not None and s.reference_rows != cal.reference_rows,
                    f"was fitted on {cal.reference_rows} reference rows",
                ),
            )
            if bad
        ),
        None,
    )
    if stale is not None:
        return Decision(x.feature, Status.ERROR, None, None, f"recalibrate: calibration {stale}")
    if s is None:
        t = Thresholds(cal.kl_at(levels[0]), cal.kl_at(levels[1]), policy.name)
        return Decision(x.feature, Status.INSUFFICIENT_DATA, t, None, "no rows to score")
    in_range = not needs_recalibration(cal, s.live_rows)
    t_or_none = (
        Thresholds(
            cal.kl_at(levels[0], s.live_rows), cal.kl_at(levels[1], s.live_rows), policy.name
        )
        if in_range
        else None
    )
    why = insufficiency(s, x.reference_is_sample)
    if why is not None:
        return Decision(x.feature, Status.INSUFFICIENT_DATA, t_or_none, None, why)
    if t_or_none is None:
        return Decision(
            x.feature,
            Status.ERROR,
            None,
            None,
            f"recalibrate: calibration is for {cal.window_rows}-row windows, "
            f"this window has {s.live_rows} rows",
        )
    t = t_or_none
    detail = (
        f"KL {s.kl_divergence:.4g} vs {_fmt_thresholds(t)} (null quantiles "
        f"{levels[0]:g}/{levels[1]:g} of {cal.windows} windows of {cal.window_rows} rows"
        f"{'' if s.live_rows == cal.window_rows else f', rescaled to {s.live_rows}'})"
    )
    return Decision(x.feature, t.classify(s.kl_divergence), t, None, detail)
